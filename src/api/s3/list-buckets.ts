// ListBuckets (GET /): the caller's buckets in name order, paginated as S3 does with `max-buckets` and
// `continuation-token`, filtered by `prefix` and `bucket-region`.
import { S3Errors } from '../../events/objects/errors.js';
import type { ApiResponse } from '../surface.js';
import { canonicalId } from './acl.js';
import { type S3Request, type S3SurfaceDeps, xml } from './request.js';

const MAX_BUCKETS = 10_000;

export async function listBuckets(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  const q = r.query;
  const rawMax = q.get('max-buckets');
  const max = rawMax === null ? undefined : Number(rawMax);
  if (max !== undefined && (!/^\d+$/.test(rawMax ?? '') || max < 1 || max > MAX_BUCKETS))
    throw S3Errors.invalidArgument(
      `Argument max-buckets must be an integer between 1 and ${MAX_BUCKETS}`,
      'max-buckets',
      rawMax ?? '',
    );
  const token = q.get('continuation-token') ?? undefined;
  // The token is the last name of the previous page, base64url: one that does not round-trip is not ours.
  let after: string | undefined;
  if (token !== undefined) {
    after = Buffer.from(token, 'base64url').toString('utf8');
    if (!token || Buffer.from(after, 'utf8').toString('base64url') !== token)
      throw S3Errors.invalidArgument(
        'The continuation token provided is incorrect',
        'continuation-token',
        token,
      );
  }
  const prefix = q.get('prefix') ?? undefined;
  const region = q.get('bucket-region') ?? undefined;
  // Every bucket lives in this server's one region.
  const all = region !== undefined && region !== d.region ? [] : await d.store.listBuckets(r.tenant.id);
  const matching = all.filter(
    (b) => (prefix === undefined || b.name.startsWith(prefix)) && (after === undefined || b.name > after),
  );
  const page = max === undefined ? matching : matching.slice(0, max);
  const last = page[page.length - 1];
  const next =
    page.length < matching.length && last ? Buffer.from(last.name, 'utf8').toString('base64url') : undefined;
  const paginated = max !== undefined || token !== undefined || prefix !== undefined || region !== undefined;
  return xml(
    200,
    'ListAllMyBucketsResult',
    {
      Owner: { ID: canonicalId(r.tenant.id), DisplayName: r.tenant.name },
      Buckets: {
        Bucket: page.map((b) => ({
          Name: b.name,
          CreationDate: b.createdAt,
          BucketRegion: paginated ? d.region : undefined,
        })),
      },
      // S3 names the token for the next page ContinuationToken in the answer.
      ContinuationToken: next,
      Prefix: prefix,
    },
    r.requestId,
  );
}
