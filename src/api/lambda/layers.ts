// Lambda's layer operations: PublishLayerVersion, GetLayerVersion, GetLayerVersionByArn, ListLayers,
// ListLayerVersions and DeleteLayerVersion, with Lambda's paths and JSON shapes. Layer permissions (sharing
// a layer with other accounts) are refused by name: a layer is its tenant's alone.
import { z } from 'zod';
import { CODE_LIMITS, CodeErrors } from '../../control/code-store.js';
import { validationError } from '../../control/function-names.js';
import type { LayerStore, LayerVersion } from '../../control/layers.js';
import { LayerErrors } from '../../control/layers.js';
import type { Tenant } from '../../control/tenants.js';
import { LambdaErrors } from '../../errors.js';
import type { ApiRequest } from '../surface.js';
import { json } from './errors.js';
import type { LambdaRoute } from './routes.js';
import { parseJsonBody, pattern, validate } from './validation.js';

export interface LayerApiDeps {
  layers: LayerStore;
  codeFromS3?: (tenant: Tenant, bucket: string, key: string, maxBytes: number) => Promise<Buffer>;
}

/** A 50 MB zip as base64 in JSON, as for CreateFunction. */
const LAYER_BODY_LIMIT = 69_905_067 + 64 * 1024;
const L = '/2018-10-31/layers';

const NAME_PATTERN = '(arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+';
const RUNTIME = z
  .string()
  .max(64)
  .regex(...pattern('[a-z0-9.]+'));
const ARCH = z.enum(['x86_64', 'arm64']);

const PublishSchema = z.object({
  Content: z.object({
    ZipFile: z.string().optional(),
    S3Bucket: z.string().min(3).max(63).optional(),
    S3Key: z.string().min(1).max(1024).optional(),
    S3ObjectVersion: z.string().min(1).max(1024).optional(),
  }),
  Description: z.string().max(256).optional(),
  CompatibleRuntimes: z.array(RUNTIME).max(15).optional(),
  CompatibleArchitectures: z.array(ARCH).max(2).optional(),
  LicenseInfo: z.string().max(512).optional(),
});
const ListQuery = z.object({
  CompatibleRuntime: RUNTIME.optional(),
  CompatibleArchitecture: ARCH.optional(),
  Marker: z.string().max(1024).optional(),
  MaxItems: z.number().int().min(1).max(50).optional(),
});

function layerName(raw: string): string {
  if (raw.length > 140)
    throw validationError(raw, 'layerName', 'Member must have length less than or equal to 140');
  if (!new RegExp(`^(?:${NAME_PATTERN})$`).test(raw))
    throw validationError(
      raw,
      'layerName',
      `Member must satisfy regular expression pattern: ${NAME_PATTERN}`,
    );
  return raw;
}

function versionNumber(raw: string): number {
  const n = Number(raw);
  if (!/^[0-9]{1,15}$/.test(raw) || !Number.isSafeInteger(n))
    throw validationError(raw, 'versionNumber', 'Member must be of type long');
  return n;
}

function versionOut(v: LayerVersion, withContent: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {
    LayerVersionArn: v.layerVersionArn,
    Version: v.version,
    Description: v.description,
    CreatedDate: v.createdDate,
    CompatibleRuntimes: v.compatibleRuntimes,
    CompatibleArchitectures: v.compatibleArchitectures,
  };
  if (v.licenseInfo !== undefined) out.LicenseInfo = v.licenseInfo;
  if (withContent) {
    out.LayerArn = v.layerArn;
    // Kindling keeps no downloadable location for a layer's zip.
    out.Content = { CodeSha256: v.sha256, CodeSize: v.codeSize };
  }
  return out;
}

const matches = (v: LayerVersion, runtime?: string, arch?: string) =>
  (runtime === undefined || v.compatibleRuntimes.includes(runtime)) &&
  (arch === undefined || v.compatibleArchitectures.includes(arch));

function listQuery(req: ApiRequest) {
  const max = req.query.get('MaxItems');
  if (max !== null && !/^[0-9]{1,6}$/.test(max))
    throw validationError(max, 'maxItems', 'Member must be a number');
  return validate(ListQuery, {
    CompatibleRuntime: req.query.get('CompatibleRuntime') ?? undefined,
    CompatibleArchitecture: req.query.get('CompatibleArchitecture') ?? undefined,
    Marker: req.query.get('Marker') ?? undefined,
    MaxItems: max === null ? undefined : Number(max),
  });
}

const marker = (s: string) => Buffer.from(s, 'utf8').toString('base64url');
function unmarker(m: string): string {
  const s = Buffer.from(m, 'base64url').toString('utf8');
  if (s === '') throw LambdaErrors.invalidParameter('Invalid Marker');
  return s;
}

export function layerRoutes(deps: LayerApiDeps): LambdaRoute[] {
  const { layers } = deps;
  /** The caller's layer version a path names; another tenant's is not found, like a missing one. */
  const named = async (req: ApiRequest, p: Record<string, string>): Promise<LayerVersion> => {
    const raw = layerName(p.LayerName!);
    const version = versionNumber(p.VersionNumber!);
    const name = layers.nameIn(req.tenant, raw);
    const v = name === undefined ? undefined : await layers.get(req.tenant, name, version);
    if (v === undefined) {
      const arn = raw.startsWith('arn:') ? raw : layers.layerArn(req.tenant.accountId, raw);
      throw LayerErrors.versionNotFound(`${arn}:${version}`);
    }
    return v;
  };
  const refusePermissions = (operation: string): LambdaRoute[] =>
    (['GET', 'POST'] as const).map((method) => ({
      method,
      path: `${L}/{LayerName}/versions/{VersionNumber}/policy`,
      operation: method === 'GET' ? 'GetLayerVersionPolicy' : operation,
      handle() {
        throw LambdaErrors.invalidParameter(
          `${method === 'GET' ? 'GetLayerVersionPolicy' : operation} is not supported by Kindling: a layer is used by its own account only.`,
        );
      },
    }));
  return [
    {
      method: 'POST',
      path: `${L}/{LayerName}/versions`,
      operation: 'PublishLayerVersion',
      maxBodyBytes: LAYER_BODY_LIMIT,
      async handle(req, p) {
        const raw = layerName(p.LayerName!);
        const body = parseJsonBody(req.body);
        // Content's members are checked by name too (the top level is, by validate).
        const content = (body as { Content?: unknown } | null)?.Content;
        if (content !== null && typeof content === 'object' && !Array.isArray(content))
          for (const k of Object.keys(content))
            if (!(k in PublishSchema.shape.Content.shape))
              throw LambdaErrors.invalidParameter(
                `Content.${k} is not supported by Kindling for this operation.`,
              );
        const input = validate(PublishSchema, body);
        const name = layers.nameIn(req.tenant, raw);
        if (name === undefined)
          throw LambdaErrors.accessDenied(
            `The account ${req.tenant.accountId} cannot publish layers in another account or region.`,
          );
        const c = input.Content;
        let zip: Buffer;
        if (c.S3Bucket !== undefined || c.S3Key !== undefined) {
          if (c.ZipFile !== undefined)
            throw LambdaErrors.invalidParameter(
              'Please do not provide other LayerVersionContentInput parameters when providing a ZipFile.',
            );
          if (c.S3ObjectVersion !== undefined)
            throw LambdaErrors.invalidParameter(
              'S3ObjectVersion is not supported by Kindling for this operation.',
            );
          if (!c.S3Bucket || !c.S3Key)
            throw LambdaErrors.invalidParameter('Please provide both S3Bucket and S3Key.');
          if (!deps.codeFromS3)
            throw LambdaErrors.invalidParameter(
              'Content from S3 needs the object store, which is not running.',
            );
          zip = await deps.codeFromS3(req.tenant, c.S3Bucket, c.S3Key, CODE_LIMITS.zippedBytes);
        } else {
          if (c.ZipFile === undefined)
            throw LambdaErrors.invalidParameter('Please provide a source for layer content.');
          zip = Buffer.from(c.ZipFile, 'base64');
          if (zip.length > CODE_LIMITS.zippedBytes)
            throw CodeErrors.zipTooLarge(zip.length, CODE_LIMITS.zippedBytes);
        }
        const v = await layers.publish(req.tenant, {
          name,
          zip,
          description: input.Description,
          licenseInfo: input.LicenseInfo,
          compatibleRuntimes: input.CompatibleRuntimes,
          compatibleArchitectures: input.CompatibleArchitectures,
        });
        return json(201, versionOut(v, true));
      },
    },
    {
      method: 'GET',
      path: `${L}/{LayerName}/versions/{VersionNumber}`,
      operation: 'GetLayerVersion',
      async handle(req, p) {
        return json(200, versionOut(await named(req, p), true));
      },
    },
    {
      method: 'DELETE',
      path: `${L}/{LayerName}/versions/{VersionNumber}`,
      operation: 'DeleteLayerVersion',
      async handle(req, p) {
        const raw = layerName(p.LayerName!);
        const version = versionNumber(p.VersionNumber!);
        const name = layers.nameIn(req.tenant, raw);
        // Lambda answers 204 whether or not the version existed.
        if (name !== undefined) await layers.delete(req.tenant, name, version);
        return { status: 204 };
      },
    },
    {
      method: 'GET',
      path: `${L}/{LayerName}/versions`,
      operation: 'ListLayerVersions',
      async handle(req, p) {
        const raw = layerName(p.LayerName!);
        const q = listQuery(req);
        const name = layers.nameIn(req.tenant, raw);
        const max = q.MaxItems ?? 50;
        let before = Number.MAX_SAFE_INTEGER;
        if (q.Marker !== undefined) {
          before = Number(unmarker(q.Marker));
          if (!Number.isSafeInteger(before)) throw LambdaErrors.invalidParameter('Invalid Marker');
        }
        const out: LayerVersion[] = [];
        let next: string | undefined;
        // Filtered in pages of the store, so a filter that matches few versions still fills MaxItems.
        while (name !== undefined) {
          const page = await layers.versions(req.tenant, name, before, 100);
          for (const v of page) {
            before = v.version;
            if (!matches(v, q.CompatibleRuntime, q.CompatibleArchitecture)) continue;
            if (out.length === max) {
              next = marker(String(out[out.length - 1]!.version));
              break;
            }
            out.push(v);
          }
          if (next !== undefined || page.length < 100) break;
        }
        const body: Record<string, unknown> = { LayerVersions: out.map((v) => versionOut(v, false)) };
        if (next !== undefined) body.NextMarker = next;
        return json(200, body);
      },
    },
    {
      method: 'GET',
      path: L,
      operation: 'ListLayers',
      async handle(req) {
        // GetLayerVersionByArn shares the path: `?find=LayerVersion&Arn=...`.
        const find = req.query.get('find');
        if (find !== null) {
          if (find !== 'LayerVersion')
            throw validationError(find, 'find', 'Member must satisfy enum value set: [LayerVersion]');
          const arn = req.query.get('Arn') ?? '';
          const v = await layers.byArn(req.tenant, arn);
          if (v === undefined) {
            if (!/^arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+$/.test(arn))
              throw validationError(
                arn,
                'arn',
                'Member must satisfy regular expression pattern: arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+',
              );
            throw LayerErrors.versionNotFound(arn);
          }
          return json(200, versionOut(v, true));
        }
        const q = listQuery(req);
        const max = q.MaxItems ?? 50;
        const after = q.Marker !== undefined ? unmarker(q.Marker) : '';
        const latest = new Map<string, LayerVersion>();
        for (const v of await layers.allVersions(req.tenant, after)) {
          if (!latest.has(v.name) && matches(v, q.CompatibleRuntime, q.CompatibleArchitecture))
            latest.set(v.name, v);
        }
        const all = [...latest.values()];
        const page = all.slice(0, max);
        const body: Record<string, unknown> = {
          Layers: page.map((v) => ({
            LayerName: v.name,
            LayerArn: v.layerArn,
            LatestMatchingVersion: versionOut(v, false),
          })),
        };
        if (all.length > max) body.NextMarker = marker(page[page.length - 1]!.name);
        return json(200, body);
      },
    },
    ...refusePermissions('AddLayerVersionPermission'),
    {
      method: 'DELETE',
      path: `${L}/{LayerName}/versions/{VersionNumber}/policy/{StatementId}`,
      operation: 'RemoveLayerVersionPermission',
      handle() {
        throw LambdaErrors.invalidParameter(
          'RemoveLayerVersionPermission is not supported by Kindling: a layer is used by its own account only.',
        );
      },
    },
  ];
}
