// S3 Control's access point calls (REST+XML under /v20180820/, signed for service s3, the account in
// x-amz-account-id): supporting access points on the tenant's buckets and Object Lambda access points over
// them. Everything else S3 Control has is refused by name. Errors are S3's XML `<Error>` shape.
import { randomBytes } from 'node:crypto';
import { parseFunctionArn } from '../../control/arn.js';
import { KindlingError } from '../../errors.js';
import type {
  AccessPoint,
  AccessPointStore,
  ObjectLambdaAccessPoint,
  Transformation,
} from '../../events/object-lambda/access-points.js';
import type { ObjectStore } from '../../events/objects/store.js';
import { decodeOrThrow } from '../../uri.js';
import { hostId, s3ErrorResponse } from '../s3/errors.js';
import { childOf, parseXml, type XmlElement, type XmlNode, xmlDocument } from '../s3/xml.js';
import type { ApiRequest, ApiResponse, ApiSurface, RequestHead } from '../surface.js';

const PREFIX = '/v20180820/';
const NS = 'http://awss3control.amazonaws.com/doc/2018-08-20/';
const MAX_BODY = 64 * 1024;
const NAME = /^[a-z0-9](?:[a-z0-9-]{1,48}[a-z0-9])$/;
const DEFAULT_PAGE = 1000;

export const S3ControlErrors = {
  noSuchAccessPoint: () =>
    new KindlingError('NoSuchAccessPoint', 404, 'The specified accesspoint does not exist'),
  alreadyOwned: () =>
    new KindlingError(
      'AccessPointAlreadyOwnedByYou',
      409,
      'Your previous request to create the named accesspoint succeeded and you already own it.',
    ),
  invalidRequest: (message: string) => new KindlingError('InvalidRequest', 400, message),
  accessDenied: () => new KindlingError('AccessDenied', 403, 'Access Denied'),
  notImplemented: (what: string) =>
    new KindlingError('NotImplemented', 501, `${what} is not implemented by Kindling's S3 Control API`),
  noSuchBucket: (bucket: string) =>
    new KindlingError('NoSuchBucket', 404, 'The specified bucket does not exist', { BucketName: bucket }),
  malformedXml: () =>
    new KindlingError(
      'MalformedXML',
      400,
      'The XML you provided was not well-formed or did not validate against our published schema',
    ),
};

export interface S3ControlDeps {
  accessPoints: AccessPointStore;
  objects: ObjectStore;
  region: string;
}

export const accessPointArn = (region: string, account: string, name: string): string =>
  `arn:aws:s3:${region}:${account}:accesspoint/${name}`;
export const objectLambdaArn = (region: string, account: string, name: string): string =>
  `arn:aws:s3-object-lambda:${region}:${account}:accesspoint/${name}`;

export class S3ControlSurface implements ApiSurface {
  readonly name = 's3control';
  readonly services = ['s3'] as const;
  readonly #d: S3ControlDeps;

  constructor(deps: S3ControlDeps) {
    this.#d = deps;
  }

  matches(head: RequestHead): boolean {
    return head.service === 's3' && head.rawPath.startsWith(PREFIX);
  }

  maxBodyBytes(): number {
    return MAX_BODY;
  }

  async handle(req: ApiRequest): Promise<ApiResponse> {
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    // Another tenant's account answers as the account of no one: nothing about it shows.
    const account = req.headers['x-amz-account-id'];
    if (account !== req.tenant.accountId) throw S3ControlErrors.accessDenied();
    const parts = req.rawPath
      .slice(PREFIX.length)
      .split('/')
      .map((p) => decodeOrThrow(p, 'path'));
    const [kind, name, sub, ...rest] = parts;
    const m = req.method;
    if (rest.length > 0) throw S3ControlErrors.notImplemented(`${m} ${req.rawPath}`);
    if (name !== undefined && !NAME.test(name) && !(m === 'GET' || m === 'DELETE'))
      throw S3ControlErrors.invalidRequest(
        'Access point names are 3 to 50 lowercase letters, digits and hyphens',
      );
    const ctx: Ctx = { req, requestId, account, region: this.#d.region };
    if (kind === 'accesspoint' && sub === undefined) {
      if (name === undefined && m === 'GET') return this.#listAccessPoints(ctx);
      if (name !== undefined && m === 'PUT') return this.#createAccessPoint(ctx, name);
      if (name !== undefined && m === 'GET') return this.#getAccessPoint(ctx, name);
      if (name !== undefined && m === 'DELETE') return this.#deleteAccessPoint(ctx, name);
    }
    if (kind === 'accesspointforobjectlambda') {
      if (name === undefined && sub === undefined && m === 'GET') return this.#listObjectLambda(ctx);
      if (name !== undefined && sub === undefined && m === 'PUT') return this.#createObjectLambda(ctx, name);
      if (name !== undefined && sub === undefined && m === 'GET') return this.#getObjectLambda(ctx, name);
      if (name !== undefined && sub === 'configuration' && m === 'GET')
        return this.#getObjectLambdaConfiguration(ctx, name);
      if (name !== undefined && sub === undefined && m === 'DELETE')
        return this.#deleteObjectLambda(ctx, name);
    }
    throw S3ControlErrors.notImplemented(`${m} ${req.rawPath}`);
  }

  errorResponse(err: unknown, head: RequestHead): ApiResponse {
    return s3ErrorResponse(err, head);
  }

  // ---- supporting access points ----

  async #createAccessPoint(c: Ctx, name: string): Promise<ApiResponse> {
    const body = parseBody(c.req.body, 'CreateAccessPointRequest', ['Bucket', 'BucketAccountId']);
    const bucket = text(body, 'Bucket');
    if (!bucket) throw S3ControlErrors.invalidRequest('Bucket is required');
    const bucketAccount = text(body, 'BucketAccountId');
    if (bucketAccount !== undefined && bucketAccount !== c.account)
      throw S3ControlErrors.noSuchBucket(bucket);
    // Only the tenant's own bucket: another tenant's answers as a missing one.
    try {
      await this.#d.objects.bucket(c.req.tenant.id, bucket);
    } catch {
      throw S3ControlErrors.noSuchBucket(bucket);
    }
    const ap = await this.#d.accessPoints.create(c.req.tenant.id, name, bucket);
    if (!ap) throw S3ControlErrors.alreadyOwned();
    return answer(c, 'CreateAccessPointResult', {
      AccessPointArn: accessPointArn(c.region, c.account, name),
      Alias: ap.alias,
    });
  }

  async #getAccessPoint(c: Ctx, name: string): Promise<ApiResponse> {
    const ap = await this.#d.accessPoints.get(c.req.tenant.id, name);
    if (!ap) throw S3ControlErrors.noSuchAccessPoint();
    return answer(c, 'GetAccessPointResult', {
      ...accessPointXml(c, ap),
      CreationDate: ap.createdAt,
    });
  }

  async #listAccessPoints(c: Ctx): Promise<ApiResponse> {
    const q = c.req.query;
    refuseQuery(q, ['bucket', 'maxResults', 'nextToken']);
    const limit = pageSize(q.get('maxResults'));
    const after = token(q.get('nextToken'));
    const bucket = q.get('bucket') ?? undefined;
    const page = await this.#d.accessPoints.list(c.req.tenant.id, {
      ...(bucket !== undefined && { bucket }),
      ...(after !== undefined && { after }),
      limit: limit + 1,
    });
    const shown = page.slice(0, limit);
    return answer(c, 'ListAccessPointsResult', {
      AccessPointList: { AccessPoint: shown.map((ap) => accessPointXml(c, ap)) },
      NextToken: page.length > limit ? nextToken(shown[shown.length - 1]!.name) : undefined,
    });
  }

  async #deleteAccessPoint(c: Ctx, name: string): Promise<ApiResponse> {
    if (!(await this.#d.accessPoints.delete(c.req.tenant.id, name)))
      throw S3ControlErrors.noSuchAccessPoint();
    return { status: 204, headers: ids(c) };
  }

  // ---- Object Lambda access points ----

  async #createObjectLambda(c: Ctx, name: string): Promise<ApiResponse> {
    const body = parseBody(c.req.body, 'CreateAccessPointForObjectLambdaRequest', ['Configuration']);
    const conf = childOf(body, 'Configuration');
    if (!conf) throw S3ControlErrors.invalidRequest('Configuration is required');
    refuseUnknown(
      conf,
      [
        'SupportingAccessPoint',
        'TransformationConfigurations',
        'CloudWatchMetricsEnabled',
        'AllowedFeatures',
      ],
      'Configuration',
    );
    if (text(conf, 'CloudWatchMetricsEnabled') === 'true')
      throw S3ControlErrors.invalidRequest('CloudWatchMetricsEnabled is not supported by Kindling');
    const features = childOf(conf, 'AllowedFeatures');
    if (features && features.children.length > 0)
      throw S3ControlErrors.invalidRequest(
        `AllowedFeatures (${features.children.map((f) => f.text).join(', ')}) are not supported by Kindling`,
      );
    const supportingArn = text(conf, 'SupportingAccessPoint') ?? '';
    const supporting = parseAccessPointArn(supportingArn, 's3');
    // Another account's access point answers like a missing one.
    const ap =
      supporting && supporting.account === c.account && supporting.region === c.region
        ? await this.#d.accessPoints.get(c.req.tenant.id, supporting.name)
        : undefined;
    if (!ap)
      throw S3ControlErrors.invalidRequest(`The supporting access point ${supportingArn} does not exist`);
    const transformations = parseTransformations(c, childOf(conf, 'TransformationConfigurations'));
    const ol = await this.#d.accessPoints.createObjectLambda(c.req.tenant.id, name, ap.name, transformations);
    if (!ol) throw S3ControlErrors.alreadyOwned();
    return answer(c, 'CreateAccessPointForObjectLambdaResult', {
      ObjectLambdaAccessPointArn: objectLambdaArn(c.region, c.account, name),
      Alias: { Value: ol.alias, Status: 'READY' },
    });
  }

  async #getObjectLambda(c: Ctx, name: string): Promise<ApiResponse> {
    const ol = await this.#ol(c, name);
    return answer(c, 'GetAccessPointForObjectLambdaResult', {
      Name: ol.name,
      CreationDate: ol.createdAt,
      Alias: { Value: ol.alias, Status: 'READY' },
    });
  }

  async #getObjectLambdaConfiguration(c: Ctx, name: string): Promise<ApiResponse> {
    const ol = await this.#ol(c, name);
    return answer(c, 'GetAccessPointConfigurationForObjectLambdaResult', {
      Configuration: {
        SupportingAccessPoint: accessPointArn(c.region, c.account, ol.supportingAccessPoint),
        TransformationConfigurations: {
          TransformationConfiguration: ol.transformations.map((t) => ({
            Actions: { Action: t.actions },
            ContentTransformation: { AwsLambda: { FunctionArn: t.functionArn, FunctionPayload: t.payload } },
          })),
        },
        CloudWatchMetricsEnabled: false,
      },
    });
  }

  async #listObjectLambda(c: Ctx): Promise<ApiResponse> {
    const q = c.req.query;
    refuseQuery(q, ['maxResults', 'nextToken']);
    const limit = pageSize(q.get('maxResults'));
    const after = token(q.get('nextToken'));
    const page = await this.#d.accessPoints.listObjectLambda(c.req.tenant.id, {
      ...(after !== undefined && { after }),
      limit: limit + 1,
    });
    const shown = page.slice(0, limit);
    return answer(c, 'ListAccessPointsForObjectLambdaResult', {
      ObjectLambdaAccessPointList: {
        ObjectLambdaAccessPoint: shown.map((ol) => ({
          Name: ol.name,
          ObjectLambdaAccessPointArn: objectLambdaArn(c.region, c.account, ol.name),
          Alias: { Value: ol.alias, Status: 'READY' },
        })),
      },
      NextToken: page.length > limit ? nextToken(shown[shown.length - 1]!.name) : undefined,
    });
  }

  async #deleteObjectLambda(c: Ctx, name: string): Promise<ApiResponse> {
    if (!(await this.#d.accessPoints.deleteObjectLambda(c.req.tenant.id, name)))
      throw S3ControlErrors.noSuchAccessPoint();
    return { status: 204, headers: ids(c) };
  }

  async #ol(c: Ctx, name: string): Promise<ObjectLambdaAccessPoint> {
    const ol = await this.#d.accessPoints.getObjectLambda(c.req.tenant.id, name);
    if (!ol) throw S3ControlErrors.noSuchAccessPoint();
    return ol;
  }
}

interface Ctx {
  req: ApiRequest;
  requestId: string;
  account: string;
  region: string;
}

const ids = (c: Ctx): Record<string, string> => ({
  'x-amz-request-id': c.requestId,
  'x-amz-id-2': hostId(c.requestId),
});

function answer(c: Ctx, root: string, body: XmlElement): ApiResponse {
  const doc = xmlDocument(root, body, false).replace(`<${root}>`, `<${root} xmlns="${NS}">`);
  return { status: 200, headers: { ...ids(c), 'content-type': 'application/xml' }, body: doc };
}

const accessPointXml = (c: Ctx, ap: AccessPoint): XmlElement => ({
  Name: ap.name,
  NetworkOrigin: 'Internet',
  Bucket: ap.bucket,
  AccessPointArn: accessPointArn(c.region, c.account, ap.name),
  Alias: ap.alias,
  BucketAccountId: c.account,
});

function parseBody(body: Buffer, root: string, allowed: string[]): XmlNode {
  let doc: XmlNode;
  try {
    doc = parseXml(body.toString('utf8'));
  } catch {
    throw S3ControlErrors.malformedXml();
  }
  if (doc.name !== root) throw S3ControlErrors.malformedXml();
  refuseUnknown(doc, allowed, root);
  return doc;
}

/** Never accepted and dropped: a field Kindling does not implement is refused by its name. */
function refuseUnknown(node: XmlNode, allowed: string[], where: string): void {
  for (const child of node.children)
    if (!allowed.includes(child.name))
      throw S3ControlErrors.invalidRequest(`${where}.${child.name} is not supported by Kindling`);
}

function refuseQuery(q: URLSearchParams, allowed: string[]): void {
  for (const k of q.keys())
    if (!allowed.includes(k))
      throw S3ControlErrors.invalidRequest(`The query parameter ${k} is not supported by Kindling`);
}

const text = (n: XmlNode, name: string): string | undefined => childOf(n, name)?.text.trim();

function pageSize(raw: string | null): number {
  if (raw === null) return DEFAULT_PAGE;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > DEFAULT_PAGE)
    throw S3ControlErrors.invalidRequest('maxResults must be between 1 and 1000');
  return n;
}

const nextToken = (name: string): string => Buffer.from(name).toString('base64url');
function token(raw: string | null): string | undefined {
  if (raw === null) return undefined;
  const name = Buffer.from(raw, 'base64url').toString('utf8');
  if (!NAME.test(name)) throw S3ControlErrors.invalidRequest('The continuation token is not valid');
  return name;
}

/** `arn:aws:<service>:<region>:<account>:accesspoint/<name>`. */
export function parseAccessPointArn(
  arn: string,
  service: 's3' | 's3-object-lambda',
): { region: string; account: string; name: string } | undefined {
  const m = /^arn:aws:([a-z0-9-]+):([a-z0-9-]+):(\d{12}):accesspoint[/:]([a-z0-9-]+)$/.exec(arn);
  if (!m || m[1] !== service || !NAME.test(m[4]!)) return undefined;
  return { region: m[2]!, account: m[3]!, name: m[4]! };
}

function parseTransformations(c: Ctx, node: XmlNode | undefined): Transformation[] {
  const list = node?.children ?? [];
  if (list.length === 0)
    throw S3ControlErrors.invalidRequest('TransformationConfigurations must name one transformation');
  return list.map((t) => {
    if (t.name !== 'TransformationConfiguration') throw S3ControlErrors.malformedXml();
    refuseUnknown(t, ['Actions', 'ContentTransformation'], 'TransformationConfiguration');
    const actions = (childOf(t, 'Actions')?.children ?? []).map((a) => a.text.trim());
    if (actions.length === 0) throw S3ControlErrors.invalidRequest('Actions must name GetObject');
    for (const a of actions)
      if (a !== 'GetObject')
        throw S3ControlErrors.invalidRequest(`The action ${a} is not supported by Kindling (only GetObject)`);
    const content = childOf(t, 'ContentTransformation');
    if (!content) throw S3ControlErrors.invalidRequest('ContentTransformation is required');
    refuseUnknown(content, ['AwsLambda'], 'ContentTransformation');
    const lambda = childOf(content, 'AwsLambda');
    if (!lambda) throw S3ControlErrors.invalidRequest('ContentTransformation.AwsLambda is required');
    refuseUnknown(lambda, ['FunctionArn', 'FunctionPayload'], 'AwsLambda');
    const functionArn = text(lambda, 'FunctionArn') ?? '';
    const fn = parseFunctionArn(functionArn);
    if (!fn || !functionArn.includes(`:${c.account}:function:`))
      throw S3ControlErrors.invalidRequest(`FunctionArn ${functionArn} is not a function of this account`);
    const payload = childOf(lambda, 'FunctionPayload')?.text;
    return { actions, functionArn, payload };
  });
}
