// S3 tagging: Get/Put/DeleteObjectTagging, Get/Put/DeleteBucketTagging, and the `x-amz-tagging` header
// of writes (PutObject, CreateMultipartUpload, CopyObject with `x-amz-tagging-directive`). Tags are
// validated here with S3's limits and words; the store keeps them per object version.
import { ObjectStoreError, S3Errors } from '../../events/objects/errors.js';
import type { TagSet } from '../../events/objects/store.js';
import type { ApiResponse } from '../surface.js';
import { authorize } from './access.js';
import {
  callerOf,
  first,
  MAX_XML_BODY,
  requestBody,
  type S3Request,
  type S3SurfaceDeps,
  xml,
} from './request.js';
import { childrenOf, parseXml, type XmlNode } from './xml.js';

export const MAX_OBJECT_TAGS = 10;
export const MAX_BUCKET_TAGS = 50;
const MAX_TAG_KEY = 128;
const MAX_TAG_VALUE = 256;
/** S3's tag alphabet: letters, digits, white space and `+ - = . _ : / @` (Unicode letters and digits too). */
const TAG_CHARS = /^[\p{L}\p{N}\p{Z}+\-=._:/@]*$/u;
/** A tagging document is small: 50 tags of 128 + 256 characters fit well below this. */
const MAX_TAGGING_BODY = 64 * 1024;

const invalidTag = (message: string) => new ObjectStoreError('InvalidTag', message);
const noSuchTagSet = (bucket: string) =>
  new ObjectStoreError('NoSuchTagSet', 'The TagSet does not exist', { BucketName: bucket });

/** Unicode characters, as S3 counts a tag's length (not UTF-16 units, not bytes). */
const chars = (s: string): number => [...s].length;

/** Checks a tag set against S3's rules; `max` is 10 for objects, 50 for buckets. */
export function validateTags(tags: TagSet, max: number, what: 'object' | 'bucket'): TagSet {
  if (tags.length > max)
    throw what === 'object'
      ? new ObjectStoreError('BadRequest', `Object tags cannot be greater than ${max}`)
      : invalidTag(`Bucket tag count cannot be greater than ${max}`);
  const seen = new Set<string>();
  for (const [k, v] of tags) {
    if (chars(k) === 0 || !TAG_CHARS.test(k)) throw invalidTag('The TagKey you have provided is invalid');
    if (chars(k) > MAX_TAG_KEY)
      throw invalidTag(`The TagKey you have provided is too long, max ${MAX_TAG_KEY}`);
    if (!TAG_CHARS.test(v)) throw invalidTag('The TagValue you have provided is invalid');
    if (chars(v) > MAX_TAG_VALUE)
      throw invalidTag(`The TagValue you have provided is too long, max ${MAX_TAG_VALUE}`);
    if (k.toLowerCase().startsWith('aws:'))
      throw invalidTag('System tags cannot be added/updated by requester');
    if (seen.has(k)) throw invalidTag('Cannot provide multiple Tags with the same key');
    seen.add(k);
  }
  return tags;
}

/** `<Tag><Key>..</Key><Value>..</Value></Tag>` elements into a tag set (shape only; see validateTags). */
export function tagsOfXml(nodes: XmlNode[]): TagSet {
  return nodes.map((t) => {
    if (t.name !== 'Tag') throw S3Errors.malformedXml();
    const keys = childrenOf(t, 'Key');
    const values = childrenOf(t, 'Value');
    if (keys.length !== 1 || values.length > 1 || t.children.length !== keys.length + values.length)
      throw S3Errors.malformedXml();
    return [keys[0]!.text, values[0]?.text ?? ''];
  });
}

export const tagsXml = (tags: TagSet) => ({ Tag: tags.map(([Key, Value]) => ({ Key, Value })) });

/** A `<Tagging><TagSet>...</TagSet></Tagging>` body. */
async function taggingBody(r: S3Request, max: number, what: 'object' | 'bucket'): Promise<TagSet> {
  const body = await requestBody(r).readAll(MAX_XML_BODY);
  if (body.length > MAX_TAGGING_BODY) throw S3Errors.malformedXml();
  const doc = parseXml(body.toString('utf8'));
  if (doc.name !== 'Tagging') throw S3Errors.malformedXml();
  const sets = childrenOf(doc, 'TagSet');
  if (sets.length !== 1 || doc.children.length !== 1) throw S3Errors.malformedXml();
  return validateTags(tagsOfXml(sets[0]!.children), max, what);
}

/**
 * The tags a write sets by `x-amz-tagging` (URL-encoded `k=v&k2=v2`), validated; undefined when the
 * header is absent. A caller other than the owner needs s3:PutObjectTagging too, as on S3.
 */
export async function requestTags(d: S3SurfaceDeps, r: S3Request): Promise<TagSet | undefined> {
  const header = first(r.headers['x-amz-tagging']);
  if (header === undefined) return undefined;
  const tags: TagSet = [];
  const seen = new Set<string>();
  for (const part of header.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    let k: string;
    let v: string;
    try {
      k = decodeURIComponent((eq < 0 ? part : part.slice(0, eq)).replace(/\+/g, ' '));
      v = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1).replace(/\+/g, ' '));
    } catch {
      throw badTaggingHeader();
    }
    if (seen.has(k)) throw badTaggingHeader();
    seen.add(k);
    tags.push([k, v]);
  }
  validateTags(tags, MAX_OBJECT_TAGS, 'object');
  const b = r.access;
  if (b && r.tenant?.id !== b.tenantId) await authorize(d, b, callerOf(r), 's3:PutObjectTagging', r.key);
  return tags;
}

const badTaggingHeader = () =>
  S3Errors.invalidArgument(
    "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.",
  );

/** CopyObject's tags: the header's with `x-amz-tagging-directive: REPLACE`, else undefined (the source's). */
export async function copyTags(d: S3SurfaceDeps, r: S3Request): Promise<TagSet | undefined> {
  const directive = (first(r.headers['x-amz-tagging-directive']) ?? 'COPY').toUpperCase();
  if (directive !== 'COPY' && directive !== 'REPLACE')
    throw S3Errors.invalidArgument('Unknown tagging directive.', 'x-amz-tagging-directive', directive);
  if (directive === 'COPY') return undefined;
  return (await requestTags(d, r)) ?? [];
}

const ok = (r: S3Request, status: number): ApiResponse => ({
  status,
  headers: { 'x-amz-request-id': r.requestId },
});

export async function getObjectTagging(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  const versionId = r.query.get('versionId');
  if (versionId !== null) {
    const tags = await d.store.versionTagging(r.actor, r.bucket, r.key, versionId);
    return xml(200, 'Tagging', { TagSet: tagsXml(tags) }, r.requestId, { 'x-amz-version-id': versionId });
  }
  const { tags } = await d.store.objectTagging(r.actor, r.bucket, r.key);
  return xml(200, 'Tagging', { TagSet: tagsXml(tags) }, r.requestId);
}

export async function putObjectTagging(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  const tags = await taggingBody(r, MAX_OBJECT_TAGS, 'object');
  await d.store.setObjectTagging(r.actor, r.bucket, r.key, tags);
  return ok(r, 200);
}

export async function deleteObjectTagging(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  await d.store.setObjectTagging(r.actor, r.bucket, r.key, []);
  return ok(r, 204);
}

export async function getBucketTagging(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  const json = await d.store.bucketConfig(r.actor, r.bucket, 'tagging');
  if (json === null) throw noSuchTagSet(r.bucket);
  return xml(200, 'Tagging', { TagSet: tagsXml(JSON.parse(json) as TagSet) }, r.requestId);
}

export async function putBucketTagging(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  const tags = await taggingBody(r, MAX_BUCKET_TAGS, 'bucket');
  // An empty TagSet leaves the bucket without tags, as a DeleteBucketTagging would.
  await d.store.setBucketConfig(
    r.actor,
    r.bucket,
    'tagging',
    tags.length === 0 ? null : JSON.stringify(tags),
  );
  return ok(r, 204);
}

export async function deleteBucketTagging(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  await d.store.setBucketConfig(r.actor, r.bucket, 'tagging', null);
  return ok(r, 204);
}
