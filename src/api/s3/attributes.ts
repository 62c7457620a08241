// GetObjectAttributes (`GET /bucket/key?attributes`): the attributes `x-amz-object-attributes` names
// (ETag, Checksum, ObjectParts, StorageClass, ObjectSize) in one answer, without the body. ObjectParts
// pages a multipart object's parts with `x-amz-max-parts` and `x-amz-part-number-marker`.
import { S3Errors } from '../../events/objects/errors.js';
import type { ObjectInfo, ObjectPart } from '../../events/objects/store.js';
import type { ApiResponse } from '../surface.js';
import { authorize } from './access.js';
import { callerOf, first, type S3Request, type S3SurfaceDeps, xml } from './request.js';
import { versionHeader } from './versioning.js';
import type { XmlElement } from './xml.js';

const ATTRIBUTES = new Set(['ETag', 'Checksum', 'ObjectParts', 'StorageClass', 'ObjectSize']);
const MAX_PARTS = 1000;

/** A non-negative integer header, else InvalidArgument naming it. */
function count(r: S3Request, header: string, fallback: number): number {
  const raw = first(r.headers[header]);
  if (raw === undefined) return fallback;
  if (!/^\d{1,9}$/.test(raw.trim()))
    throw S3Errors.invalidArgument(`${header} must be a non-negative integer`, header, raw);
  return Number(raw.trim());
}

export async function getObjectAttributes(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  const raw = (r.headers['x-amz-object-attributes'] ?? []) as string | string[];
  const wanted = (Array.isArray(raw) ? raw : [raw])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
  if (wanted.length === 0)
    throw S3Errors.invalidArgument(
      'The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty',
      'x-amz-object-attributes',
      '',
    );
  for (const a of wanted)
    if (!ATTRIBUTES.has(a))
      throw S3Errors.invalidArgument('Invalid attribute name specified.', 'x-amz-object-attributes', a);
  const maxParts = Math.min(count(r, 'x-amz-max-parts', MAX_PARTS), MAX_PARTS);
  const marker = count(r, 'x-amz-part-number-marker', 0);
  const versionId = r.query.get('versionId') ?? undefined;
  // S3 asks for s3:GetObjectAttributes beside s3:GetObject (the route's); the owner needs neither.
  const b = r.access;
  if (b && (b.policy !== null || r.tenant?.id !== b.tenantId))
    await authorize(d, b, callerOf(r), 's3:GetObjectAttributes', r.key, versionId);
  const { info, parts } =
    versionId === undefined
      ? await d.store.objectAttributes(r.actor, r.bucket, r.key)
      : await versionAttributes(d, r, versionId);
  const want = new Set(wanted);
  // Part sizes are kept for the current object only: a noncurrent multipart version's are not answered.
  if (want.has('ObjectParts') && info.partsCount !== undefined && parts === undefined)
    throw S3Errors.notImplemented('ObjectParts of a noncurrent version');
  const body: XmlElement = {};
  if (want.has('ETag')) body.ETag = info.etag;
  if (want.has('Checksum') && info.checksum)
    body.Checksum = {
      [`Checksum${info.checksum.algorithm}`]: info.checksum.value,
      ChecksumType: info.checksum.value.includes('-') ? 'COMPOSITE' : 'FULL_OBJECT',
    };
  if (want.has('ObjectParts') && parts) {
    const after = parts.filter((p) => p.partNumber > marker);
    const page = after.slice(0, maxParts);
    body.ObjectParts = {
      PartsCount: parts.length,
      PartNumberMarker: marker,
      NextPartNumberMarker: page[page.length - 1]?.partNumber ?? marker,
      MaxParts: maxParts,
      IsTruncated: after.length > page.length,
      Part: page.map((p) => ({
        PartNumber: p.partNumber,
        Size: p.size,
        ...(p.checksum ? { [`Checksum${p.checksum.algorithm}`]: p.checksum.value } : {}),
      })),
    };
  }
  if (want.has('StorageClass')) body.StorageClass = 'STANDARD';
  if (want.has('ObjectSize')) body.ObjectSize = info.size;
  return xml(200, 'GetObjectAttributesResponse', body, r.requestId, {
    'last-modified': info.lastModified.toUTCString(),
    ...versionHeader(r, info.versionId),
  });
}

/** One version's attributes: its info, and its parts while it is the current object. */
async function versionAttributes(
  d: S3SurfaceDeps,
  r: S3Request,
  versionId: string,
): Promise<{ info: ObjectInfo; parts: ObjectPart[] | undefined }> {
  const obj = await d.store.openObject(r.actor, r.bucket, r.key, versionId);
  obj.close();
  const { info } = obj;
  const parts =
    info.partsCount === undefined ? undefined : await d.store.objectPartList(r.bucket, r.key, info.version);
  return { info, parts };
}
