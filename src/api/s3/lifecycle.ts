// S3 lifecycle configuration: Put/Get/DeleteBucketLifecycleConfiguration. The subset applied here is
// Expiration (Days or Date) and AbortIncompleteMultipartUpload, filtered by prefix, tags and object size;
// every other action is refused with NotImplemented naming it, never stored and ignored. The sweep that
// applies the rules lives with the store (events/objects/lifecycle.ts).
import { ObjectStoreError, S3Errors } from '../../events/objects/errors.js';
import { type LifecycleRule, parseLifecycle } from '../../events/objects/lifecycle.js';
import type { TagSet } from '../../events/objects/store.js';
import type { ApiResponse } from '../surface.js';
import { MAX_XML_BODY, requestBody, type S3Request, type S3SurfaceDeps, xml } from './request.js';
import { tagsOfXml, tagsXml, validateTags } from './tagging.js';
import { childOf, childrenOf, parseXml, type XmlElement, type XmlNode } from './xml.js';

const MAX_RULES = 1000;
const NOT_IMPLEMENTED = [
  'Transition',
  'Transitions',
  'NoncurrentVersionExpiration',
  'NoncurrentVersionTransition',
  'NoncurrentVersionTransitions',
];

const noSuchLifecycle = (bucket: string) =>
  new ObjectStoreError('NoSuchLifecycleConfiguration', 'The lifecycle configuration does not exist', {
    BucketName: bucket,
  });

/** Exactly one element of the name at most; its text. */
function single(n: XmlNode, name: string): string | undefined {
  const all = childrenOf(n, name);
  if (all.length > 1) throw S3Errors.malformedXml();
  return all[0]?.text.trim();
}

/** A `Prefix` element's text as given (a key prefix's spaces count); undefined when absent. */
function prefixOf(n: XmlNode): string | undefined {
  const all = childrenOf(n, 'Prefix');
  if (all.length > 1) throw S3Errors.malformedXml();
  return all[0]?.text;
}

function nonNegative(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,15}$/.test(text)) throw S3Errors.invalidArgument(`'${what}' must be a non-negative integer`);
  return Number(text);
}

function positiveDays(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,9}$/.test(text) || Number(text) === 0)
    throw S3Errors.invalidArgument(`'Days' for ${what} action must be a positive integer`);
  return Number(text);
}

type Filter = Pick<LifecycleRule, 'prefix' | 'tags' | 'sizeGreaterThan' | 'sizeLessThan'>;

function filterOf(f: XmlNode): Filter {
  const known = ['Prefix', 'Tag', 'And', 'ObjectSizeGreaterThan', 'ObjectSizeLessThan'];
  for (const c of f.children) if (!known.includes(c.name)) throw S3Errors.malformedXml();
  // S3's Filter holds one condition, or several inside <And>.
  if (f.children.length > 1) throw S3Errors.malformedXml();
  const and = childOf(f, 'And');
  const src = and ?? f;
  if (and) {
    for (const c of and.children)
      if (!['Prefix', 'Tag', 'ObjectSizeGreaterThan', 'ObjectSizeLessThan'].includes(c.name))
        throw S3Errors.malformedXml();
  }
  const tags: TagSet = tagsOfXml(childrenOf(src, 'Tag'));
  if (!and && tags.length > 1) throw S3Errors.malformedXml();
  const keys = new Set(tags.map(([k]) => k));
  if (keys.size !== tags.length) throw S3Errors.invalidRequest('Duplicate Tag Keys are not allowed.');
  validateTags(tags, 50, 'bucket');
  const gt = nonNegative(single(src, 'ObjectSizeGreaterThan'), 'ObjectSizeGreaterThan');
  const lt = nonNegative(single(src, 'ObjectSizeLessThan'), 'ObjectSizeLessThan');
  if (lt === 0) throw S3Errors.invalidArgument("'ObjectSizeLessThan' must be a positive integer");
  if (gt !== undefined && lt !== undefined && gt >= lt)
    throw S3Errors.invalidArgument("'ObjectSizeLessThan' must be greater than 'ObjectSizeGreaterThan'");
  return {
    prefix: prefixOf(src) ?? '',
    tags,
    ...(gt !== undefined && { sizeGreaterThan: gt }),
    ...(lt !== undefined && { sizeLessThan: lt }),
  };
}

function ruleOf(n: XmlNode, index: number): LifecycleRule {
  for (const name of NOT_IMPLEMENTED)
    if (childOf(n, name)) throw S3Errors.notImplemented(`lifecycle ${name}`);
  const known = ['ID', 'Status', 'Filter', 'Prefix', 'Expiration', 'AbortIncompleteMultipartUpload'];
  for (const c of n.children) if (!known.includes(c.name)) throw S3Errors.malformedXml();
  const id = single(n, 'ID') ?? `rule-${index + 1}`;
  if (id.length > 255) throw S3Errors.invalidArgument('ID length should not exceed allowed limit of 255');
  const status = single(n, 'Status');
  if (status !== 'Enabled' && status !== 'Disabled') throw S3Errors.malformedXml();
  const filterNode = childOf(n, 'Filter');
  const legacyPrefix = prefixOf(n);
  if (filterNode && legacyPrefix !== undefined) throw S3Errors.malformedXml();
  const filter: Filter = filterNode ? filterOf(filterNode) : { prefix: legacyPrefix ?? '', tags: [] };
  const rule: LifecycleRule = {
    id,
    enabled: status === 'Enabled',
    form: filterNode || legacyPrefix === undefined ? 'filter' : 'prefix',
    ...filter,
  };
  const exp = childrenOf(n, 'Expiration');
  if (exp.length > 1) throw S3Errors.malformedXml();
  if (exp[0]) {
    const e = exp[0];
    if (childOf(e, 'ExpiredObjectDeleteMarker'))
      throw S3Errors.notImplemented('lifecycle ExpiredObjectDeleteMarker');
    for (const c of e.children) if (c.name !== 'Days' && c.name !== 'Date') throw S3Errors.malformedXml();
    const days = single(e, 'Days');
    const date = single(e, 'Date');
    if ((days === undefined) === (date === undefined)) throw S3Errors.malformedXml();
    if (days !== undefined) rule.expirationDays = positiveDays(days, 'Expiration');
    if (date !== undefined) {
      const at = Date.parse(date);
      if (!/^\d{4}-\d{2}-\d{2}T/.test(date) || Number.isNaN(at))
        throw S3Errors.invalidArgument("'Date' must be in ISO 8601 format");
      if (at % 86_400_000 !== 0) throw S3Errors.invalidArgument("'Date' must be at midnight GMT");
      rule.expirationDate = at;
    }
  }
  const abort = childrenOf(n, 'AbortIncompleteMultipartUpload');
  if (abort.length > 1) throw S3Errors.malformedXml();
  if (abort[0]) {
    for (const c of abort[0].children) if (c.name !== 'DaysAfterInitiation') throw S3Errors.malformedXml();
    const days = single(abort[0], 'DaysAfterInitiation');
    if (days === undefined) throw S3Errors.malformedXml();
    if (rule.tags.length > 0 || rule.sizeGreaterThan !== undefined || rule.sizeLessThan !== undefined)
      throw S3Errors.invalidRequest('AbortIncompleteMultipartUpload cannot be specified with Tags.');
    rule.abortDays = positiveDays(days, 'AbortIncompleteMultipartUpload');
  }
  if (!exp[0] && !abort[0])
    throw S3Errors.invalidRequest('At least one action needs to be specified in a rule');
  return rule;
}

export async function putBucketLifecycle(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  const doc = parseXml((await requestBody(r).readAll(MAX_XML_BODY)).toString('utf8'));
  if (doc.name !== 'LifecycleConfiguration') throw S3Errors.malformedXml();
  const nodes = doc.children;
  if (nodes.length === 0 || nodes.some((c) => c.name !== 'Rule')) throw S3Errors.malformedXml();
  if (nodes.length > MAX_RULES)
    throw S3Errors.invalidRequest(
      `The number of lifecycle rules must not exceed the allowed limit of ${MAX_RULES} rules`,
    );
  const rules = nodes.map(ruleOf);
  const ids = new Set(rules.map((x) => x.id));
  if (ids.size !== rules.length)
    throw S3Errors.invalidArgument('Rule ID must be unique. Found same ID for more than one rule');
  await d.store.setBucketConfig(r.actor, r.bucket, 'lifecycle', JSON.stringify(rules));
  return { status: 200, headers: { 'x-amz-request-id': r.requestId } };
}

function filterXml(x: LifecycleRule): XmlElement {
  const parts: XmlElement = {};
  const count =
    (x.prefix ? 1 : 0) +
    x.tags.length +
    (x.sizeGreaterThan !== undefined ? 1 : 0) +
    (x.sizeLessThan !== undefined ? 1 : 0);
  if (x.prefix || count === 0) parts.Prefix = x.prefix;
  if (x.tags.length > 0) parts.Tag = tagsXml(x.tags).Tag;
  if (x.sizeGreaterThan !== undefined) parts.ObjectSizeGreaterThan = x.sizeGreaterThan;
  if (x.sizeLessThan !== undefined) parts.ObjectSizeLessThan = x.sizeLessThan;
  return count > 1 ? { And: parts } : parts;
}

export async function getBucketLifecycle(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  const json = await d.store.bucketConfig(r.actor, r.bucket, 'lifecycle');
  if (json === null) throw noSuchLifecycle(r.bucket);
  const rules = parseLifecycle(json).map((x) => ({
    ID: x.id,
    ...(x.form === 'prefix' ? { Prefix: x.prefix } : { Filter: filterXml(x) }),
    Status: x.enabled ? 'Enabled' : 'Disabled',
    Expiration:
      x.expirationDays !== undefined
        ? { Days: x.expirationDays }
        : x.expirationDate !== undefined
          ? { Date: new Date(x.expirationDate) }
          : undefined,
    AbortIncompleteMultipartUpload:
      x.abortDays !== undefined ? { DaysAfterInitiation: x.abortDays } : undefined,
  }));
  return xml(200, 'LifecycleConfiguration', { Rule: rules }, r.requestId);
}

export async function deleteBucketLifecycle(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  await d.store.setBucketConfig(r.actor, r.bucket, 'lifecycle', null);
  return { status: 204, headers: { 'x-amz-request-id': r.requestId } };
}
