// S3's multipart uploads: create, upload a part (or copy one), list parts and uploads, complete, abort.
import { headerOfAlgorithm } from '../../events/objects/checksums.js';
import { ObjectStoreError, S3Errors } from '../../events/objects/errors.js';
import type { ObjectStore } from '../../events/objects/store.js';
import type { ApiResponse } from '../surface.js';
import { authorizeCopySource, requestAcl } from './access-config.js';
import { canonicalId } from './acl.js';
import { copySourceConditions } from './conditions.js';
import {
  copySource,
  first,
  MAX_XML_BODY,
  quote,
  requestBody,
  type S3Request,
  type S3SurfaceDeps,
  storedHeaders,
  userMetadata,
  writeCondition,
  xml,
} from './request.js';
import { requestTags } from './tagging.js';
import { versionHeader } from './versioning.js';
import { childrenOf, parseXml, textOf } from './xml.js';

export async function createUpload(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  const algorithm = first(r.headers['x-amz-checksum-algorithm'])?.toUpperCase();
  if (algorithm !== undefined && !['CRC32', 'CRC32C', 'SHA1', 'SHA256'].includes(algorithm)) {
    throw S3Errors.invalidArgument(
      'Checksum algorithm provided is unsupported.',
      'x-amz-checksum-algorithm',
      algorithm,
    );
  }
  const acl = await requestAcl(d, r);
  const tags = await requestTags(d, r);
  await requestBody(r).readAll(MAX_XML_BODY);
  const uploadId = await d.store.createMultipartUpload(r.actor, r.bucket, r.key, {
    contentType: first(r.headers['content-type']),
    metadata: userMetadata(r.headers),
    headers: storedHeaders(r.headers),
    checksumAlgorithm: algorithm,
    acl,
    tags,
  });
  const extra: Record<string, string> = algorithm ? { 'x-amz-checksum-algorithm': algorithm } : {};
  return xml(
    200,
    'InitiateMultipartUploadResult',
    { Bucket: r.bucket, Key: r.key, UploadId: uploadId },
    r.requestId,
    extra,
  );
}

export async function uploadPart(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  const partNumber = Number(r.query.get('partNumber'));
  const uploadId = r.query.get('uploadId')!;
  await d.store.upload(r.actor, r.bucket, r.key, uploadId);
  if (r.headers['x-amz-copy-source']) return uploadPartCopy(d, r, uploadId, partNumber);
  const body = requestBody(r);
  const part = await d.store.uploadPart(r.actor, r.bucket, r.key, uploadId, partNumber, body.stream(), (c) =>
    body.verify(c),
  );
  const headers: Record<string, string> = { etag: quote(part.etag), 'x-amz-request-id': r.requestId };
  if (part.checksum) headers[headerOfAlgorithm(part.checksum.algorithm as 'CRC32')] = part.checksum.value;
  return { status: 200, headers };
}

/** UploadPartCopy: a part taken from (a byte range of) an existing object, as `aws s3 cp` does for large copies. */
export async function uploadPartCopy(
  d: S3SurfaceDeps,
  r: S3Request,
  uploadId: string,
  partNumber: number,
): Promise<ApiResponse> {
  const source = copySource(first(r.headers['x-amz-copy-source'])!);
  const rangeHeader = first(r.headers['x-amz-copy-source-range']);
  await requestBody(r).readAll(MAX_XML_BODY);
  await authorizeCopySource(d, r, source);
  const src = await d.store.openObject(r.actor, source.bucket, source.key, source.versionId);
  let range: { start: number; end: number } | undefined;
  try {
    copySourceConditions(src.info, r.headers);
    if (rangeHeader !== undefined) range = copyRange(rangeHeader, src.info.size);
  } catch (e) {
    src.close();
    throw e;
  }
  const body = src.read(range);
  let part: Awaited<ReturnType<ObjectStore['uploadPart']>>;
  try {
    part = await d.store.uploadPart(r.actor, r.bucket, r.key, uploadId, partNumber, body);
  } finally {
    // Closes the source file if the part was refused before it was read.
    body.destroy();
  }
  const sourceVersion: Record<string, string> =
    source.versionId !== undefined || src.info.versionId !== 'null'
      ? { 'x-amz-copy-source-version-id': src.info.versionId }
      : {};
  return xml(
    200,
    'CopyPartResult',
    { LastModified: part.lastModified, ETag: quote(part.etag) },
    r.requestId,
    sourceVersion,
  );
}

/**
 * `x-amz-copy-source-range: bytes=first-last`, both offsets given: another form is InvalidArgument, a
 * range reaching past the source's end 416 InvalidRange, as S3 answers them.
 */
function copyRange(header: string, size: number): { start: number; end: number } {
  const m = /^bytes=(\d{1,16})-(\d{1,16})$/.exec(header.trim());
  if (!m || Number(m[2]) < Number(m[1]))
    throw S3Errors.invalidArgument(
      'The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy',
      'x-amz-copy-source-range',
      header,
    );
  if (Number(m[2]) >= size) throw S3Errors.invalidRange(size, header.trim());
  return { start: Number(m[1]), end: Number(m[2]) };
}

export async function listParts(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  const uploadId = r.query.get('uploadId')!;
  const maxParts = Number(r.query.get('max-parts') ?? '1000');
  const marker = Number(r.query.get('part-number-marker') ?? '0');
  if (!Number.isInteger(maxParts) || maxParts < 0)
    throw S3Errors.invalidArgument('max-parts must be a non-negative integer', 'max-parts', String(maxParts));
  if (!Number.isInteger(marker) || marker < 0)
    throw S3Errors.invalidArgument(
      'part-number-marker must be a non-negative integer',
      'part-number-marker',
      String(marker),
    );
  const upload = await d.store.upload(r.actor, r.bucket, r.key, uploadId);
  const { parts, isTruncated } = await d.store.listParts(r.actor, r.bucket, r.key, uploadId, {
    maxParts,
    after: marker,
  });
  return xml(
    200,
    'ListPartsResult',
    {
      Bucket: r.bucket,
      Key: r.key,
      UploadId: uploadId,
      PartNumberMarker: marker,
      NextPartNumberMarker: parts[parts.length - 1]?.partNumber ?? marker,
      MaxParts: maxParts,
      // max-parts=0 lists nothing and, as S3's other listings, is not truncated.
      IsTruncated: maxParts > 0 && isTruncated,
      Initiator: uploadOwner(r),
      Owner: uploadOwner(r),
      ChecksumAlgorithm: upload.checksumAlgorithm,
      Part: parts.map((p) => ({
        PartNumber: p.partNumber,
        LastModified: p.lastModified,
        ETag: quote(p.etag),
        Size: p.size,
        ...(p.checksum ? { [`Checksum${p.checksum.algorithm}`]: p.checksum.value } : {}),
      })),
      StorageClass: 'STANDARD',
    },
    r.requestId,
  );
}

/**
 * Initiator and Owner of an upload: what others write into a bucket belongs to its owner here (uploads
 * keep no initiator of their own), so both name the bucket's owner; the display name only to the owner.
 */
const uploadOwner = (r: S3Request) => ({
  ID: canonicalId(r.access?.tenantId ?? r.tenant.id),
  DisplayName: r.tenant?.id === r.access?.tenantId ? r.tenant.name : undefined,
});

export async function completeUpload(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  const uploadId = r.query.get('uploadId')!;
  // Fails fast on a missing bucket or upload; an upload completed already may be a client's retry,
  // which the store answers from the part list.
  await d.store.upload(r.actor, r.bucket, r.key, uploadId).catch((e: unknown) => {
    if (!(e instanceof ObjectStoreError) || e.code !== 'NoSuchUpload') throw e;
  });
  const condition = writeCondition(r.headers);
  const doc = parseXml((await requestBody(r).readAll(MAX_XML_BODY)).toString('utf8'));
  if (doc.name !== 'CompleteMultipartUpload') throw S3Errors.malformedXml();
  const parts = childrenOf(doc, 'Part').map((p) => {
    const n = Number(textOf(p, 'PartNumber'));
    const etag = textOf(p, 'ETag');
    if (!Number.isInteger(n) || etag === undefined) throw S3Errors.malformedXml();
    return { partNumber: n, etag: etag.trim() };
  });
  const info = await d.store.completeMultipartUpload(r.actor, r.bucket, r.key, uploadId, parts, condition);
  const checksum = info.checksum ? { [`Checksum${info.checksum.algorithm}`]: info.checksum.value } : {};
  return xml(
    200,
    'CompleteMultipartUploadResult',
    {
      Location: `/${r.bucket}/${encodeURIComponent(r.key).replace(/%2F/g, '/')}`,
      Bucket: r.bucket,
      Key: r.key,
      ETag: quote(info.etag),
      ...checksum,
    },
    r.requestId,
    versionHeader(r, info.versionId),
  );
}

export async function abortUpload(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  await d.store.abortMultipartUpload(r.actor, r.bucket, r.key, r.query.get('uploadId')!);
  return { status: 204, headers: { 'x-amz-request-id': r.requestId } };
}
