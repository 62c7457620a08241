// The S3-compatible API, path-style (`/bucket/key`), over the embedded object store. It streams bodies
// in and out, checks every digest the client sent, and answers with S3's XML, headers and error codes.
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { NotificationConfig } from '../../events/notifications/config.js';
import type { BucketNotifications } from '../../events/notifications/notifications.js';
import { headerOfAlgorithm } from '../../events/objects/checksums.js';
import { isValidBucketName, ObjectStoreError, S3Errors } from '../../events/objects/errors.js';
import type { ObjectInfo, ObjectStore, StoredHeaders, WriteCondition } from '../../events/objects/store.js';
import { decodeOrThrow } from '../../uri.js';
import type { ApiRequest, ApiResponse, ApiSurface, RequestHead } from '../surface.js';
import { S3RequestBody } from './body.js';
import { hostId, s3ErrorResponse } from './errors.js';
import {
  childOf,
  childrenOf,
  escapeXml,
  parseXml,
  S3_NS,
  textOf,
  type XmlElement,
  type XmlNode,
  xmlDocument,
} from './xml.js';

export interface S3SurfaceDeps {
  store: ObjectStore;
  notifications: BucketNotifications;
  region: string;
}

/** XML request bodies (DeleteObjects of 1000 keys is the largest) stay well under this. */
const MAX_XML_BODY = 2 * 1024 * 1024;
const STORED_HEADERS = [
  'cache-control',
  'content-disposition',
  'content-encoding',
  'content-language',
  'expires',
] as const;
/** Paths other surfaces own on the shared origin; unsigned requests there are not S3's. */
const FOREIGN_PATHS = /^\/(20\d\d-\d\d-\d\d|kindling|metrics|_)(\/|$)/;

/** S3 subresources (`?tagging`, `?acl`, ...) this store does not implement. */
const UNSUPPORTED_SUBRESOURCES = new Set([
  'acl',
  'accelerate',
  'analytics',
  'attributes',
  'cors',
  'encryption',
  'intelligent-tiering',
  'inventory',
  'legal-hold',
  'lifecycle',
  'logging',
  'metrics',
  'object-lock',
  'ownershipControls',
  'policy',
  'policyStatus',
  'publicAccessBlock',
  'replication',
  'requestPayment',
  'restore',
  'retention',
  'select',
  'tagging',
  'torrent',
  'versionId',
  'versions',
  'website',
]);

type Handler = (req: S3Request) => Promise<ApiResponse>;

interface S3Request extends ApiRequest {
  bucket: string;
  key: string;
  requestId: string;
}

const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);
const quote = (etag: string): string => `"${etag}"`;

function xml(
  status: number,
  root: string,
  body: XmlElement,
  requestId: string,
  extra: Record<string, string> = {},
): ApiResponse {
  return {
    status,
    headers: {
      'content-type': 'application/xml',
      'x-amz-request-id': requestId,
      'x-amz-id-2': hostId(requestId),
      ...extra,
    },
    body: xmlDocument(root, body),
  };
}

/** The `x-amz-meta-*` headers of a request, keyed without the prefix (S3 lower-cases them). */
function userMetadata(headers: RequestHead['headers']): Record<string, string> {
  const meta: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (k.startsWith('x-amz-meta-') && v !== undefined)
      meta[k.slice('x-amz-meta-'.length)] = Array.isArray(v) ? v.join(',') : v;
  }
  if (Buffer.byteLength(JSON.stringify(meta)) > 2048 + 64) {
    throw S3Errors.invalidArgument('Your metadata headers exceed the maximum allowed metadata size.');
  }
  return meta;
}

function storedHeaders(headers: RequestHead['headers']): StoredHeaders {
  const out: StoredHeaders = {};
  for (const h of STORED_HEADERS) {
    let v = first(headers[h]);
    // `aws-chunked` describes the request's framing, not the object.
    if (h === 'content-encoding' && v)
      v = v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s && s !== 'aws-chunked')
        .join(', ');
    if (v) out[h] = v;
  }
  return out;
}

function objectHeaders(info: ObjectInfo, withChecksum: boolean): Record<string, string> {
  const h: Record<string, string> = {
    etag: quote(info.etag),
    'last-modified': info.lastModified.toUTCString(),
    'content-type': info.contentType,
    'accept-ranges': 'bytes',
  };
  for (const [k, v] of Object.entries(info.headers)) if (v) h[k] = v;
  for (const [k, v] of Object.entries(info.metadata)) h[`x-amz-meta-${k}`] = v;
  if (info.partsCount !== undefined) h['x-amz-mp-parts-count'] = String(info.partsCount);
  if (withChecksum && info.checksum)
    h[headerOfAlgorithm(info.checksum.algorithm as 'CRC32')] = info.checksum.value;
  return h;
}

/** `bytes=a-b`, `bytes=a-`, `bytes=-n`; undefined when S3 would ignore the header (unparseable, several ranges). */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0 || size === 0) throw S3Errors.invalidRange(size);
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return undefined;
  if (start >= size) throw S3Errors.invalidRange(size);
  return { start, end };
}

function checkConditions(info: ObjectInfo, h: RequestHead['headers']): ApiResponse | undefined {
  const etag = quote(info.etag);
  const matches = (list: string) =>
    list.split(',').some((t) => t.trim() === '*' || t.trim() === etag || t.trim() === info.etag);
  const modified = Math.floor(info.lastModified.getTime() / 1000) * 1000;
  const ifMatch = first(h['if-match']);
  const ifNone = first(h['if-none-match']);
  const ifUnmodified = first(h['if-unmodified-since']);
  const ifModified = first(h['if-modified-since']);
  if (ifMatch !== undefined && !matches(ifMatch)) throw S3Errors.preconditionFailed('If-Match');
  if (ifMatch === undefined && ifUnmodified !== undefined && modified > Date.parse(ifUnmodified)) {
    throw S3Errors.preconditionFailed('If-Unmodified-Since');
  }
  const notModified = { status: 304, headers: { etag, 'last-modified': info.lastModified.toUTCString() } };
  if (ifNone !== undefined) return matches(ifNone) ? notModified : undefined;
  if (ifModified !== undefined && modified <= Date.parse(ifModified)) return notModified;
  return undefined;
}

/** The notification configuration in S3's XML (Lambda configurations are `CloudFunctionConfiguration`). */
function notificationXml(config: NotificationConfig): XmlElement {
  return {
    CloudFunctionConfiguration: config.lambda.map((c) => ({
      Id: c.id,
      CloudFunction: c.functionArn,
      Event: c.events,
      Filter:
        c.prefix !== undefined || c.suffix !== undefined
          ? {
              S3Key: {
                FilterRule: [
                  ...(c.prefix !== undefined ? [{ Name: 'Prefix', Value: c.prefix }] : []),
                  ...(c.suffix !== undefined ? [{ Name: 'Suffix', Value: c.suffix }] : []),
                ],
              },
            }
          : undefined,
    })),
  };
}

/** The XML request body turned into the API's JSON shape, which the notifications module validates. */
function notificationInput(doc: XmlNode): unknown {
  if (doc.name !== 'NotificationConfiguration') throw S3Errors.malformedXml();
  for (const other of ['TopicConfiguration', 'QueueConfiguration']) {
    if (childOf(doc, other))
      throw S3Errors.invalidArgument(
        `${other} destinations are not supported by this store; use LambdaFunctionConfigurations`,
        other,
        '',
      );
  }
  return {
    LambdaFunctionConfigurations: childrenOf(doc, 'CloudFunctionConfiguration').map((c) => {
      const key = childOf(childOf(c, 'Filter') ?? { name: '', children: [], text: '' }, 'S3Key');
      return {
        Id: textOf(c, 'Id'),
        LambdaFunctionArn: textOf(c, 'CloudFunction') ?? '',
        Events: childrenOf(c, 'Event').map((e) => e.text.trim()),
        Filter: key
          ? {
              Key: {
                FilterRules: childrenOf(key, 'FilterRule').map((r) => ({
                  Name: textOf(r, 'Name') ?? '',
                  Value: textOf(r, 'Value') ?? '',
                })),
              },
            }
          : undefined,
      };
    }),
  };
}

export class S3Surface implements ApiSurface {
  readonly name = 's3';
  readonly services = ['s3'] as const;
  readonly streaming = true;
  readonly #deps: S3SurfaceDeps;

  constructor(deps: S3SurfaceDeps) {
    this.#deps = deps;
  }

  matches(head: RequestHead): boolean {
    if (head.service === 's3') return true;
    if (head.service) return false;
    // Unsigned: only plain S3-looking requests, so other APIs' unsigned calls reach their own surfaces.
    if (head.headers['x-amz-target'] || head.query.has('Action') || FOREIGN_PATHS.test(head.rawPath))
      return false;
    const bucket = head.rawPath.split('/')[1] ?? '';
    return bucket === '' ? head.method === 'GET' : isValidBucketName(bucket);
  }

  maxBodyBytes(): number {
    return MAX_XML_BODY;
  }

  async handle(req: ApiRequest): Promise<ApiResponse> {
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    const rest = req.rawPath.replace(/^\//, '');
    const slash = rest.indexOf('/');
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    const key = slash < 0 ? '' : decodeOrThrow(rest.slice(slash + 1), 'path');
    const r: S3Request = Object.assign(Object.create(null) as S3Request, req, {
      bucket: decodeOrThrow(bucket, 'path'),
      key,
      requestId,
    });
    const handler = this.#route(r);
    return handler(r);
  }

  #route(r: S3Request): Handler {
    const q = r.query;
    const m = r.method;
    // A subresource this store does not implement must not fall through to a plain PUT or GET: a
    // PutObjectTagging would otherwise overwrite the object with its XML body.
    for (const name of q.keys()) {
      if (UNSUPPORTED_SUBRESOURCES.has(name) || (name === 'versioning' && m !== 'GET'))
        throw S3Errors.notImplemented(`?${name}`);
    }
    if (!r.bucket) {
      if (m === 'GET') return (x) => this.#listBuckets(x);
      throw S3Errors.methodNotAllowed();
    }
    if (!r.key) {
      if (q.has('notification')) {
        if (m === 'PUT') return (x) => this.#putNotification(x);
        if (m === 'GET') return (x) => this.#getNotification(x);
      }
      if (m === 'PUT') return (x) => this.#createBucket(x);
      if (m === 'HEAD') return (x) => this.#headBucket(x);
      if (m === 'DELETE') return (x) => this.#deleteBucket(x);
      if (m === 'POST' && q.has('delete')) return (x) => this.#deleteObjects(x);
      if (m === 'GET') {
        if (q.has('location')) return (x) => this.#location(x);
        if (q.has('uploads')) return (x) => this.#listUploads(x);
        if (q.has('versioning'))
          return async (x) => this.#check(x, () => xml(200, 'VersioningConfiguration', {}, x.requestId));
        return (x) => this.#listObjects(x, q.get('list-type') === '2');
      }
      throw S3Errors.methodNotAllowed();
    }
    if (q.has('uploadId')) {
      if (m === 'PUT' && q.has('partNumber')) return (x) => this.#uploadPart(x);
      if (m === 'GET') return (x) => this.#listParts(x);
      if (m === 'POST') return (x) => this.#completeUpload(x);
      if (m === 'DELETE') return (x) => this.#abortUpload(x);
      throw S3Errors.invalidRequest('This operation does not take an uploadId (or is missing partNumber)');
    }
    if (m === 'POST' && q.has('uploads')) return (x) => this.#createUpload(x);
    if (m === 'PUT')
      return r.headers['x-amz-copy-source'] ? (x) => this.#copyObject(x) : (x) => this.#putObject(x);
    if (m === 'GET' || m === 'HEAD') return (x) => this.#getObject(x, m === 'HEAD');
    if (m === 'DELETE') return (x) => this.#deleteObject(x);
    throw S3Errors.methodNotAllowed();
  }

  #check(r: S3Request, then: () => ApiResponse): ApiResponse {
    this.#deps.store.bucket(r.tenant.id, r.bucket);
    return then();
  }

  #body(r: S3Request): S3RequestBody {
    return new S3RequestBody(r.raw, r.headers, r.signedPayload);
  }

  // ---- buckets ----

  async #listBuckets(r: S3Request): Promise<ApiResponse> {
    const buckets = this.#deps.store.listBuckets(r.tenant.id);
    return xml(
      200,
      'ListAllMyBucketsResult',
      {
        Owner: { ID: r.tenant.accountId, DisplayName: r.tenant.name },
        Buckets: { Bucket: buckets.map((b) => ({ Name: b.name, CreationDate: b.createdAt })) },
      },
      r.requestId,
    );
  }

  async #createBucket(r: S3Request): Promise<ApiResponse> {
    // CreateBucketConfiguration (LocationConstraint) is read and verified, but every bucket lives here.
    await this.#body(r).readAll(MAX_XML_BODY);
    this.#deps.store.createBucket(r.tenant.id, r.bucket);
    return { status: 200, headers: { location: `/${r.bucket}`, 'x-amz-request-id': r.requestId } };
  }

  async #headBucket(r: S3Request): Promise<ApiResponse> {
    this.#deps.store.bucket(r.tenant.id, r.bucket);
    return {
      status: 200,
      headers: { 'x-amz-bucket-region': this.#deps.region, 'x-amz-request-id': r.requestId },
    };
  }

  async #deleteBucket(r: S3Request): Promise<ApiResponse> {
    this.#deps.store.deleteBucket(r.tenant.id, r.bucket);
    return { status: 204, headers: { 'x-amz-request-id': r.requestId } };
  }

  async #location(r: S3Request): Promise<ApiResponse> {
    this.#deps.store.bucket(r.tenant.id, r.bucket);
    // us-east-1 is answered as an empty constraint, as S3 does.
    const region = this.#deps.region === 'us-east-1' ? '' : this.#deps.region;
    return {
      status: 200,
      headers: { 'content-type': 'application/xml', 'x-amz-request-id': r.requestId },
      body: `<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint xmlns="${S3_NS}">${escapeXml(region)}</LocationConstraint>`,
    };
  }

  async #putNotification(r: S3Request): Promise<ApiResponse> {
    this.#deps.store.bucket(r.tenant.id, r.bucket);
    const text = (await this.#body(r).readAll(MAX_XML_BODY)).toString('utf8');
    await this.#deps.notifications.putConfig(r.tenant, r.bucket, notificationInput(parseXml(text)));
    return { status: 200, headers: { 'x-amz-request-id': r.requestId } };
  }

  async #getNotification(r: S3Request): Promise<ApiResponse> {
    this.#deps.store.bucket(r.tenant.id, r.bucket);
    return xml(
      200,
      'NotificationConfiguration',
      notificationXml(this.#deps.notifications.getConfig(r.bucket)),
      r.requestId,
    );
  }

  async #listObjects(r: S3Request, v2: boolean): Promise<ApiResponse> {
    const q = r.query;
    const maxKeysRaw = q.get('max-keys');
    const maxKeys = maxKeysRaw === null ? 1000 : Number(maxKeysRaw);
    if (!Number.isInteger(maxKeys) || maxKeys < 0)
      throw S3Errors.invalidArgument(
        'Provided max-keys not an integer or within integer range',
        'max-keys',
        maxKeysRaw ?? '',
      );
    const encodingType = q.get('encoding-type') ?? undefined;
    if (encodingType !== undefined && encodingType !== 'url')
      throw S3Errors.invalidArgument(
        'Invalid Encoding Method specified in Request',
        'encoding-type',
        encodingType,
      );
    const enc = (s: string | undefined) =>
      s === undefined || !encodingType ? s : encodeURIComponent(s).replace(/%2F/g, '/');
    const prefix = q.get('prefix') ?? '';
    const delimiter = q.get('delimiter') ?? '';
    let startAfter: string | undefined;
    const token = q.get('continuation-token') ?? undefined;
    if (v2) {
      startAfter = q.get('start-after') ?? undefined;
      if (token !== undefined) {
        const decoded = Buffer.from(token, 'base64url').toString('utf8');
        if (!token || Buffer.from(decoded, 'utf8').toString('base64url') !== token) {
          throw S3Errors.invalidArgument(
            'The continuation token provided is incorrect',
            'continuation-token',
            token,
          );
        }
        startAfter = decoded;
      }
    } else startAfter = q.get('marker') ?? undefined;
    const page = this.#deps.store.listObjects(r.tenant.id, r.bucket, {
      prefix,
      delimiter,
      maxKeys,
      startAfter,
    });
    const contents = page.contents.map((o) => ({
      Key: enc(o.key),
      LastModified: o.lastModified,
      ETag: quote(o.etag),
      ChecksumAlgorithm: o.checksum?.algorithm,
      Size: o.size,
      Owner:
        v2 && q.get('fetch-owner') !== 'true'
          ? undefined
          : { ID: r.tenant.accountId, DisplayName: r.tenant.name },
      StorageClass: 'STANDARD',
    }));
    const common = page.commonPrefixes.map((p) => ({ Prefix: enc(p) }));
    const next = page.isTruncated && page.last !== undefined ? page.last : undefined;
    const body: XmlElement = v2
      ? {
          Name: r.bucket,
          Prefix: enc(prefix),
          Delimiter: delimiter ? enc(delimiter) : undefined,
          MaxKeys: maxKeys,
          EncodingType: encodingType,
          KeyCount: contents.length + common.length,
          IsTruncated: page.isTruncated,
          ContinuationToken: token,
          NextContinuationToken:
            next === undefined ? undefined : Buffer.from(next, 'utf8').toString('base64url'),
          StartAfter: enc(q.get('start-after') ?? undefined),
          Contents: contents,
          CommonPrefixes: common,
        }
      : {
          Name: r.bucket,
          Prefix: enc(prefix),
          Marker: enc(q.get('marker') ?? ''),
          NextMarker: delimiter && next !== undefined ? enc(next) : undefined,
          Delimiter: delimiter ? enc(delimiter) : undefined,
          MaxKeys: maxKeys,
          EncodingType: encodingType,
          IsTruncated: page.isTruncated,
          Contents: contents,
          CommonPrefixes: common,
        };
    return xml(200, 'ListBucketResult', body, r.requestId);
  }

  // ---- objects ----

  async #putObject(r: S3Request): Promise<ApiResponse> {
    this.#deps.store.bucket(r.tenant.id, r.bucket);
    const body = this.#body(r);
    const info = await this.#deps.store.putObject(r.tenant.id, r.bucket, r.key, body.stream(), {
      contentType: first(r.headers['content-type']),
      metadata: userMetadata(r.headers),
      headers: storedHeaders(r.headers),
      verify: (c) => body.verify(c),
      condition: writeCondition(r.headers),
    });
    const headers: Record<string, string> = { etag: quote(info.etag), 'x-amz-request-id': r.requestId };
    if (info.checksum) headers[headerOfAlgorithm(info.checksum.algorithm as 'CRC32')] = info.checksum.value;
    return { status: 200, headers };
  }

  async #getObject(r: S3Request, head: boolean): Promise<ApiResponse> {
    const partNumber = r.query.get('partNumber');
    if (partNumber !== null) throw S3Errors.notImplemented('partNumber');
    const obj = this.#deps.store.openObject(r.tenant.id, r.bucket, r.key);
    try {
      const { info } = obj;
      const notModified = checkConditions(info, r.headers);
      if (notModified) {
        obj.close();
        return notModified;
      }
      const range = parseRange(first(r.headers.range), info.size);
      // Checksums cover the whole object: a range answers without them, as S3 does.
      const withChecksum = !range && first(r.headers['x-amz-checksum-mode'])?.toUpperCase() === 'ENABLED';
      const headers: Record<string, string> = {
        ...objectHeaders(info, withChecksum),
        'x-amz-request-id': r.requestId,
      };
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
      const body: Readable = obj.read(range);
      return { status, headers, body };
    } catch (e) {
      obj.close();
      throw e;
    }
  }

  async #deleteObject(r: S3Request): Promise<ApiResponse> {
    this.#deps.store.deleteObject(r.tenant.id, r.bucket, r.key);
    return { status: 204, headers: { 'x-amz-request-id': r.requestId } };
  }

  async #deleteObjects(r: S3Request): Promise<ApiResponse> {
    this.#deps.store.bucket(r.tenant.id, r.bucket);
    const doc = parseXml((await this.#body(r).readAll(MAX_XML_BODY)).toString('utf8'));
    if (doc.name !== 'Delete') throw S3Errors.malformedXml();
    const quiet = textOf(doc, 'Quiet')?.trim() === 'true';
    const objects = childrenOf(doc, 'Object');
    if (objects.length === 0 || objects.length > 1000) throw S3Errors.malformedXml();
    const deleted: XmlElement[] = [];
    const errors: XmlElement[] = [];
    for (const o of objects) {
      const key = textOf(o, 'Key');
      if (key === undefined) throw S3Errors.malformedXml();
      try {
        this.#deps.store.deleteObject(r.tenant.id, r.bucket, key);
        if (!quiet) deleted.push({ Key: key });
      } catch (e) {
        if (!(e instanceof ObjectStoreError)) throw e;
        errors.push({ Key: key, Code: e.code, Message: e.message });
      }
    }
    return xml(200, 'DeleteResult', { Deleted: deleted, Error: errors }, r.requestId);
  }

  async #copyObject(r: S3Request): Promise<ApiResponse> {
    const source = copySource(first(r.headers['x-amz-copy-source'])!);
    const directive = (first(r.headers['x-amz-metadata-directive']) ?? 'COPY').toUpperCase();
    if (directive !== 'COPY' && directive !== 'REPLACE') {
      throw S3Errors.invalidArgument('Unknown metadata directive.', 'x-amz-metadata-directive', directive);
    }
    // Copies carry no body, but drain (and verify) whatever arrived.
    await this.#body(r).readAll(MAX_XML_BODY);
    const info = await this.#deps.store.copyObject(
      r.tenant.id,
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
      },
    );
    const checksum = info.checksum ? { [`Checksum${info.checksum.algorithm}`]: info.checksum.value } : {};
    return xml(
      200,
      'CopyObjectResult',
      { LastModified: info.lastModified, ETag: quote(info.etag), ...checksum },
      r.requestId,
    );
  }

  // ---- multipart uploads ----

  async #createUpload(r: S3Request): Promise<ApiResponse> {
    const algorithm = first(r.headers['x-amz-checksum-algorithm'])?.toUpperCase();
    if (algorithm !== undefined && !['CRC32', 'CRC32C', 'SHA1', 'SHA256'].includes(algorithm)) {
      throw S3Errors.invalidArgument(
        'Checksum algorithm provided is unsupported.',
        'x-amz-checksum-algorithm',
        algorithm,
      );
    }
    await this.#body(r).readAll(MAX_XML_BODY);
    const uploadId = this.#deps.store.createMultipartUpload(r.tenant.id, r.bucket, r.key, {
      contentType: first(r.headers['content-type']),
      metadata: userMetadata(r.headers),
      headers: storedHeaders(r.headers),
      checksumAlgorithm: algorithm,
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

  async #uploadPart(r: S3Request): Promise<ApiResponse> {
    const partNumber = Number(r.query.get('partNumber'));
    const uploadId = r.query.get('uploadId')!;
    this.#deps.store.upload(r.tenant.id, r.bucket, r.key, uploadId);
    if (r.headers['x-amz-copy-source']) return this.#uploadPartCopy(r, uploadId, partNumber);
    const body = this.#body(r);
    const part = await this.#deps.store.uploadPart(
      r.tenant.id,
      r.bucket,
      r.key,
      uploadId,
      partNumber,
      body.stream(),
      (c) => body.verify(c),
    );
    const headers: Record<string, string> = { etag: quote(part.etag), 'x-amz-request-id': r.requestId };
    if (part.checksum) headers[headerOfAlgorithm(part.checksum.algorithm as 'CRC32')] = part.checksum.value;
    return { status: 200, headers };
  }

  /** UploadPartCopy: a part taken from (a byte range of) an existing object, as `aws s3 cp` does for large copies. */
  async #uploadPartCopy(r: S3Request, uploadId: string, partNumber: number): Promise<ApiResponse> {
    const source = copySource(first(r.headers['x-amz-copy-source'])!);
    const rangeHeader = first(r.headers['x-amz-copy-source-range']);
    await this.#body(r).readAll(MAX_XML_BODY);
    const src = this.#deps.store.openObject(r.tenant.id, source.bucket, source.key);
    let range: { start: number; end: number } | undefined;
    try {
      if (rangeHeader !== undefined) {
        const m = /^bytes=(\d+)-(\d+)$/.exec(rangeHeader.trim());
        if (!m || Number(m[2]) < Number(m[1]) || Number(m[2]) >= src.info.size) {
          throw S3Errors.invalidArgument(
            'The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy',
            'x-amz-copy-source-range',
            rangeHeader,
          );
        }
        range = { start: Number(m[1]), end: Number(m[2]) };
      }
    } catch (e) {
      src.close();
      throw e;
    }
    const body = src.read(range);
    let part: Awaited<ReturnType<ObjectStore['uploadPart']>>;
    try {
      part = await this.#deps.store.uploadPart(r.tenant.id, r.bucket, r.key, uploadId, partNumber, body);
    } finally {
      // Closes the source file if the part was refused before it was read.
      body.destroy();
    }
    return xml(
      200,
      'CopyPartResult',
      { LastModified: part.lastModified, ETag: quote(part.etag) },
      r.requestId,
    );
  }

  async #listParts(r: S3Request): Promise<ApiResponse> {
    const uploadId = r.query.get('uploadId')!;
    const maxParts = Number(r.query.get('max-parts') ?? '1000');
    const marker = Number(r.query.get('part-number-marker') ?? '0');
    if (!Number.isInteger(maxParts) || maxParts < 0)
      throw S3Errors.invalidArgument(
        'max-parts must be a non-negative integer',
        'max-parts',
        String(maxParts),
      );
    if (!Number.isInteger(marker) || marker < 0)
      throw S3Errors.invalidArgument(
        'part-number-marker must be a non-negative integer',
        'part-number-marker',
        String(marker),
      );
    const upload = this.#deps.store.upload(r.tenant.id, r.bucket, r.key, uploadId);
    const { parts, isTruncated } = this.#deps.store.listParts(r.tenant.id, r.bucket, r.key, uploadId, {
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
        IsTruncated: isTruncated,
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

  async #listUploads(r: S3Request): Promise<ApiResponse> {
    const prefix = r.query.get('prefix') ?? '';
    const uploads = this.#deps.store.listUploads(r.tenant.id, r.bucket, prefix);
    return xml(
      200,
      'ListMultipartUploadsResult',
      {
        Bucket: r.bucket,
        Prefix: prefix,
        MaxUploads: 1000,
        IsTruncated: false,
        Upload: uploads.map((u) => ({
          Key: u.key,
          UploadId: u.uploadId,
          Initiated: u.initiated,
          StorageClass: 'STANDARD',
        })),
      },
      r.requestId,
    );
  }

  async #completeUpload(r: S3Request): Promise<ApiResponse> {
    const uploadId = r.query.get('uploadId')!;
    this.#deps.store.upload(r.tenant.id, r.bucket, r.key, uploadId);
    const doc = parseXml((await this.#body(r).readAll(MAX_XML_BODY)).toString('utf8'));
    if (doc.name !== 'CompleteMultipartUpload') throw S3Errors.malformedXml();
    const parts = childrenOf(doc, 'Part').map((p) => {
      const n = Number(textOf(p, 'PartNumber'));
      const etag = textOf(p, 'ETag');
      if (!Number.isInteger(n) || etag === undefined) throw S3Errors.malformedXml();
      return { partNumber: n, etag: etag.trim() };
    });
    const info = await this.#deps.store.completeMultipartUpload(
      r.tenant.id,
      r.bucket,
      r.key,
      uploadId,
      parts,
    );
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
    );
  }

  async #abortUpload(r: S3Request): Promise<ApiResponse> {
    this.#deps.store.abortMultipartUpload(r.tenant.id, r.bucket, r.key, r.query.get('uploadId')!);
    return { status: 204, headers: { 'x-amz-request-id': r.requestId } };
  }

  errorResponse(err: unknown, head: RequestHead): ApiResponse {
    return s3ErrorResponse(err, head);
  }
}

/** S3's conditional writes: `If-None-Match: *` (create only) and `If-Match: "etag"` (replace that version). */
function writeCondition(h: RequestHead['headers']): WriteCondition | undefined {
  const none = first(h['if-none-match'])?.trim();
  const match = first(h['if-match'])?.trim();
  if (none === undefined && match === undefined) return undefined;
  if (none !== undefined && none !== '*') throw S3Errors.notImplemented('If-None-Match other than *');
  return { ifNoneMatch: none === '*' ? '*' : undefined, ifMatch: match?.replace(/"/g, '') };
}

/** `x-amz-copy-source`: `[/]bucket/key[?versionId=...]`, URL-encoded. */
function copySource(raw: string): { bucket: string; key: string } {
  let source: string;
  try {
    source = decodeURIComponent(raw.split('?')[0]!.replace(/^\//, ''));
  } catch {
    throw S3Errors.invalidArgument('Invalid copy source encoding', 'x-amz-copy-source', raw);
  }
  const slash = source.indexOf('/');
  if (slash <= 0 || slash === source.length - 1) {
    throw S3Errors.invalidArgument('Invalid copy source object key', 'x-amz-copy-source', raw);
  }
  return { bucket: source.slice(0, slash), key: source.slice(slash + 1) };
}
