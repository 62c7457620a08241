// S3's object operations: put, get and head (ranges, conditions), delete, delete many, copy.
import type { Readable } from 'node:stream';
import { headerOfAlgorithm } from '../../events/objects/checksums.js';
import { ObjectStoreError, S3Errors } from '../../events/objects/errors.js';
import { started } from '../../events/objects/objects.js';
import type { ObjectInfo } from '../../events/objects/store.js';
import type { ApiResponse } from '../surface.js';
import { authorize } from './access.js';
import { authorizeCopySource, requestAcl } from './access-config.js';
import { copySourceConditions } from './conditions.js';
import {
  callerOf,
  checkConditions,
  copySource,
  first,
  MAX_XML_BODY,
  objectHeaders,
  parseRange,
  quote,
  requestBody,
  type S3Request,
  type S3SurfaceDeps,
  storedHeaders,
  userMetadata,
  writeCondition,
  xml,
} from './request.js';
import { copyTags, requestTags } from './tagging.js';
import { versionHeader } from './versioning.js';
import { childrenOf, parseXml, textOf, type XmlElement } from './xml.js';

export async function putObject(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  await d.store.bucket(r.actor, r.bucket);
  const acl = await requestAcl(d, r);
  const tags = await requestTags(d, r);
  const body = requestBody(r);
  const info = await d.store.putObject(r.actor, r.bucket, r.key, body.stream(), {
    contentType: first(r.headers['content-type']),
    metadata: userMetadata(r.headers),
    headers: storedHeaders(r.headers),
    verify: (c) => body.verify(c),
    condition: writeCondition(r.headers),
    acl,
    tags,
  });
  const headers: Record<string, string> = {
    etag: quote(info.etag),
    'x-amz-request-id': r.requestId,
    ...versionHeader(r, info.versionId),
  };
  if (info.checksum) headers[headerOfAlgorithm(info.checksum.algorithm as 'CRC32')] = info.checksum.value;
  return { status: 200, headers };
}

export async function getObject(d: S3SurfaceDeps, r: S3Request, head: boolean): Promise<ApiResponse> {
  const partNumber = partNumberOf(r);
  // As on S3: an unsigned link must not choose how the object is served (a stored page answered as
  // text/html on this origin because the link asked for it).
  if (r.tenant === undefined && [...r.query.keys()].some((k) => k.startsWith('response-')))
    throw S3Errors.invalidRequest(
      'Request specific response headers cannot be used for anonymous GET requests.',
    );
  const obj = await d.store.openObject(r.actor, r.bucket, r.key, r.query.get('versionId') ?? undefined);
  try {
    const { info } = obj;
    const notModified = checkConditions(info, r.headers);
    if (notModified) {
      obj.close();
      return notModified;
    }
    const range =
      partNumber === undefined
        ? parseRange(first(r.headers.range), info.size)
        : await partRange(d, r, info, partNumber);
    // Checksums cover the whole object: a range answers without them, as S3 does.
    const withChecksum = !range && first(r.headers['x-amz-checksum-mode'])?.toUpperCase() === 'ENABLED';
    const headers: Record<string, string> = {
      ...objectHeaders(info, withChecksum),
      'x-amz-request-id': r.requestId,
      ...versionHeader(r, info.versionId),
      // Objects are served on the console's origin (path style): a tenant's text/html object opened in a
      // browser would run as that origin and drive a signed-in console session (its SameSite cookie goes
      // along with same-origin requests). Sandboxed, the page has an origin of its own and runs no script.
      'content-security-policy': 'sandbox',
    };
    if (info.tagCount) headers['x-amz-tagging-count'] = String(info.tagCount);
    if (partNumber !== undefined && info.partsCount !== undefined)
      headers['x-amz-mp-parts-count'] = String(info.partsCount);
    const overrides: Record<string, string> = {
      'response-content-type': 'content-type',
      'response-content-disposition': 'content-disposition',
      'response-content-encoding': 'content-encoding',
      'response-content-language': 'content-language',
      'response-cache-control': 'cache-control',
      'response-expires': 'expires',
    };
    for (const [param, h] of Object.entries(overrides)) {
      const v = r.query.get(param);
      if (v !== null) headers[h] = v;
    }
    let status = 200;
    let length = info.size;
    if (range) {
      status = 206;
      length = range.end - range.start + 1;
      headers['content-range'] = `bytes ${range.start}-${range.end}/${info.size}`;
    }
    headers['content-length'] = String(length);
    if (head) {
      obj.close();
      return { status, headers };
    }
    const body: Readable = await started(obj.read(range));
    return { status, headers, body };
  } catch (e) {
    obj.close();
    throw e;
  }
}

/** `?partNumber=N` of GetObject/HeadObject (1..10000), undefined without it. */
function partNumberOf(r: S3Request): number | undefined {
  const raw = r.query.get('partNumber');
  if (raw === null) return undefined;
  const n = /^\d{1,5}$/.test(raw) ? Number(raw) : 0;
  if (n < 1 || n > 10_000)
    throw S3Errors.invalidArgument(
      'Part number must be an integer between 1 and 10000, inclusive',
      'partNumber',
      raw,
    );
  if (r.headers.range !== undefined)
    throw S3Errors.invalidRequest('Cannot specify both Range header and partNumber query parameter');
  // Part sizes are kept for the current object only (s3_object_parts).
  if (r.query.has('versionId')) throw S3Errors.notImplemented('?partNumber with ?versionId');
  return n;
}

/**
 * The bytes of part `n`, as a ranged GET of them: an object not written from parts is one part, the
 * whole object. A part past the last is InvalidPart, as on S3.
 */
async function partRange(
  d: S3SurfaceDeps,
  r: S3Request,
  info: ObjectInfo,
  n: number,
): Promise<{ start: number; end: number } | undefined> {
  const notSatisfiable = () => S3Errors.invalidPart('The requested partnumber is not satisfiable');
  if (info.partsCount === undefined) {
    if (n !== 1) throw notSatisfiable();
    return info.size === 0 ? undefined : { start: 0, end: info.size - 1 };
  }
  if (n > info.partsCount) throw notSatisfiable();
  // Keyed by the version opened: an overwrite since then finds no parts (rather than another object's).
  const parts = await d.store.objectPartList(r.bucket, r.key, info.version);
  if (parts === undefined) throw S3Errors.noSuchKey(r.key);
  let start = 0;
  for (const p of parts) {
    if (p.partNumber === n) {
      // An empty last part has no bytes to range over; refused rather than answered with the whole object.
      if (p.size === 0) throw notSatisfiable();
      return { start, end: start + p.size - 1 };
    }
    start += p.size;
  }
  throw notSatisfiable();
}

export async function deleteObject(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  const versionId = r.query.get('versionId') ?? undefined;
  const done =
    versionId === undefined
      ? await d.store.deleteObject(r.actor, r.bucket, r.key)
      : await d.store.deleteObjectVersion(r.actor, r.bucket, r.key, versionId);
  const headers: Record<string, string> = {
    'x-amz-request-id': r.requestId,
    ...versionHeader(r, done.versionId),
  };
  if (done.deleteMarker) headers['x-amz-delete-marker'] = 'true';
  return { status: 204, headers };
}

export async function deleteObjects(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  await d.store.bucket(r.actor, r.bucket);
  const doc = parseXml((await requestBody(r).readAll(MAX_XML_BODY)).toString('utf8'));
  if (doc.name !== 'Delete') throw S3Errors.malformedXml();
  const quiet = textOf(doc, 'Quiet')?.trim() === 'true';
  const objects = childrenOf(doc, 'Object');
  if (objects.length === 0 || objects.length > 1000) throw S3Errors.malformedXml();
  const deleted: XmlElement[] = [];
  const errors: XmlElement[] = [];
  for (const o of objects) {
    const key = textOf(o, 'Key');
    if (key === undefined) throw S3Errors.malformedXml();
    const versionId = textOf(o, 'VersionId')?.trim() || undefined;
    try {
      // S3 authorizes each key: a policy may allow deleting under one prefix only.
      const b = r.access;
      if (b && (b.policy !== null || r.tenant?.id !== b.tenantId))
        await authorize(d, b, callerOf(r), versionId ? 's3:DeleteObjectVersion' : 's3:DeleteObject', key);
      const done =
        versionId === undefined
          ? await d.store.deleteObject(r.actor, r.bucket, key)
          : await d.store.deleteObjectVersion(r.actor, r.bucket, key, versionId);
      const shown = versionHeader(r, done.versionId)['x-amz-version-id'];
      if (!quiet)
        deleted.push({
          Key: key,
          VersionId: versionId,
          DeleteMarker: done.deleteMarker || undefined,
          // The marker made, or the marker deleted by its id.
          DeleteMarkerVersionId: done.deleteMarker ? shown : undefined,
        });
    } catch (e) {
      if (!(e instanceof ObjectStoreError)) throw e;
      errors.push({ Key: key, VersionId: versionId, Code: e.code, Message: e.message });
    }
  }
  return xml(200, 'DeleteResult', { Deleted: deleted, Error: errors }, r.requestId);
}

export async function copyObject(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  const source = copySource(first(r.headers['x-amz-copy-source'])!);
  const directive = (first(r.headers['x-amz-metadata-directive']) ?? 'COPY').toUpperCase();
  if (directive !== 'COPY' && directive !== 'REPLACE') {
    throw S3Errors.invalidArgument('Unknown metadata directive.', 'x-amz-metadata-directive', directive);
  }
  const acl = await requestAcl(d, r);
  const tags = await copyTags(d, r);
  // Copies carry no body, but drain (and verify) whatever arrived.
  await requestBody(r).readAll(MAX_XML_BODY);
  await authorizeCopySource(d, r, source);
  const info = await d.store.copyObject(
    r.actor,
    source,
    { bucket: r.bucket, key: r.key },
    {
      replaceMetadata:
        directive === 'REPLACE'
          ? {
              contentType: first(r.headers['content-type']),
              metadata: userMetadata(r.headers),
              headers: storedHeaders(r.headers),
            }
          : undefined,
      acl,
      tags,
      checkSource: (src) => copySourceConditions(src, r.headers),
    },
  );
  const checksum = info.checksum ? { [`Checksum${info.checksum.algorithm}`]: info.checksum.value } : {};
  const sourceVersion: Record<string, string> =
    source.versionId !== undefined || info.sourceVersionId !== 'null'
      ? { 'x-amz-copy-source-version-id': info.sourceVersionId }
      : {};
  return xml(
    200,
    'CopyObjectResult',
    { LastModified: info.lastModified, ETag: quote(info.etag), ...checksum },
    r.requestId,
    { ...versionHeader(r, info.versionId), ...sourceVersion },
  );
}
