// ListMultipartUploads (GET /bucket?uploads): the bucket's uploads in progress by key, then initiation,
// with S3's prefix, delimiter, key-marker/upload-id-marker, max-uploads and encoding-type.
import { commonPrefixOf } from '../../events/objects/common-prefix.js';
import { S3Errors } from '../../events/objects/errors.js';
import type { UploadInfo } from '../../events/objects/store.js';
import type { ApiResponse } from '../surface.js';
import { canonicalId } from './acl.js';
import { listingEncoding } from './listing-encoding.js';
import { type S3Request, type S3SurfaceDeps, xml } from './request.js';

const PAGE = 1000;

export async function listUploads(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  const q = r.query;
  const { encodingType, enc } = listingEncoding(q);
  const rawMax = q.get('max-uploads');
  if (rawMax !== null && (!/^\d+$/.test(rawMax) || Number(rawMax) > 2 ** 31 - 1))
    throw S3Errors.invalidArgument(
      'Argument max-uploads must be an integer between 0 and 2147483647',
      'max-uploads',
      rawMax,
    );
  const maxUploads = rawMax === null ? PAGE : Math.min(Number(rawMax), PAGE);
  const prefix = q.get('prefix') ?? '';
  const delimiter = q.get('delimiter') ?? '';
  const keyMarker = q.get('key-marker') ?? undefined;
  // S3 ignores an upload-id-marker without a key-marker.
  const uploadIdMarker = keyMarker === undefined ? undefined : (q.get('upload-id-marker') ?? undefined);
  const all = inStableOrder(await d.store.listUploads(r.actor, r.bucket, prefix));
  let start = 0;
  if (keyMarker !== undefined) {
    const at =
      uploadIdMarker === undefined
        ? -1
        : all.findIndex((u) => u.key === keyMarker && u.uploadId === uploadIdMarker);
    start = at >= 0 ? at + 1 : all.findIndex((u) => u.key > keyMarker);
    if (start < 0) start = all.length;
  }
  const uploads: UploadInfo[] = [];
  const commonPrefixes: string[] = [];
  let last: { key: string; uploadId?: string } | undefined;
  let isTruncated = false;
  for (const u of all.slice(start)) {
    const common = commonPrefixOf(u.key, prefix, delimiter);
    // A prefix already listed here, or by the page that ended at the key marker, is not listed again.
    if (common !== undefined && (common === last?.key || (keyMarker !== undefined && common <= keyMarker)))
      continue;
    // max-uploads=0 lists nothing and, as S3's other listings, is not truncated.
    if (uploads.length + commonPrefixes.length === maxUploads) {
      isTruncated = maxUploads > 0;
      break;
    }
    if (common !== undefined) {
      commonPrefixes.push(common);
      last = { key: common };
    } else {
      uploads.push(u);
      last = { key: u.key, uploadId: u.uploadId };
    }
  }
  // What others write here belongs to the bucket's owner; the display name is told to the owner only.
  const owner = {
    ID: canonicalId(r.access?.tenantId ?? r.tenant.id),
    DisplayName: r.tenant?.id === r.access?.tenantId ? r.tenant.name : undefined,
  };
  return xml(
    200,
    'ListMultipartUploadsResult',
    {
      Bucket: r.bucket,
      KeyMarker: enc(keyMarker ?? ''),
      UploadIdMarker: uploadIdMarker ?? '',
      NextKeyMarker: isTruncated ? enc(last?.key) : undefined,
      NextUploadIdMarker: isTruncated ? last?.uploadId : undefined,
      Delimiter: delimiter ? enc(delimiter) : undefined,
      Prefix: enc(prefix),
      MaxUploads: maxUploads,
      EncodingType: encodingType,
      IsTruncated: isTruncated,
      Upload: uploads.map((u) => ({
        Key: enc(u.key),
        UploadId: u.uploadId,
        Initiator: owner,
        Owner: owner,
        StorageClass: 'STANDARD',
        Initiated: u.initiated,
      })),
      CommonPrefixes: commonPrefixes.map((p) => ({ Prefix: enc(p) })),
    },
    r.requestId,
  );
}

/** The store's key order, with uploads of one key (which may share an initiation instant) ordered fully. */
function inStableOrder(uploads: UploadInfo[]): UploadInfo[] {
  const out: UploadInfo[] = [];
  for (let i = 0; i < uploads.length; ) {
    let j = i;
    while (j < uploads.length && uploads[j]!.key === uploads[i]!.key) j++;
    const run = uploads.slice(i, j);
    run.sort(
      (a, b) =>
        a.initiated.getTime() - b.initiated.getTime() ||
        (a.uploadId < b.uploadId ? -1 : a.uploadId > b.uploadId ? 1 : 0),
    );
    out.push(...run);
    i = j;
  }
  return out;
}
