// CreateFunction, GetFunction, GetFunctionConfiguration, ListFunctions, UpdateFunctionCode,
// UpdateFunctionConfiguration and DeleteFunction, with Lambda's paths, status codes and JSON shapes.
import { z } from 'zod';
import { CODE_LIMITS, CodeErrors } from '../../control/code-store.js';
import { parseFunctionRef, validationError } from '../../control/function-names.js';
import {
  checkRuntime,
  checkTags,
  type FunctionConfig,
  type FunctionRecord,
  LATEST,
  refuseNetworkTag,
  SUPPORTED_RUNTIMES,
} from '../../control/functions.js';
import type { FunctionLayer } from '../../control/layers.js';
import type { Tenant } from '../../control/tenants.js';
import { LambdaErrors } from '../../errors.js';
import { runtimeEntry } from '../../runtimes/registry.js';
import type { ApiRequest } from '../surface.js';
import { originOf } from './code-download.js';
import type { LambdaApiDeps } from './deps.js';
import { json } from './errors.js';
import type { LambdaRoute } from './routes.js';
import { parseJsonBody, pattern, validate, validateBody } from './validation.js';

/** A 50 MB zip is ~70 MB as base64 in JSON: Lambda's CreateFunction request limit is 69905067 bytes. */
const CODE_BODY_LIMIT = 69_905_067 + 64 * 1024;

const TagsSchema = z.record(z.string().min(1).max(128), z.string().max(256));
const EnvironmentSchema = z.object({ Variables: z.record(z.string(), z.string()).optional() });
const ConfigFields = {
  Runtime: z.enum(SUPPORTED_RUNTIMES).optional(),
  Role: z.string().max(2048).optional(),
  Handler: z
    .string()
    .max(128)
    .regex(...pattern('[^\\s]+'))
    .optional(),
  Description: z.string().max(256).optional(),
  Timeout: z.number().int().min(1).max(900).optional(),
  MemorySize: z.number().int().min(128).max(10240).optional(),
  Environment: EnvironmentSchema.optional(),
  EphemeralStorage: z.object({ Size: z.number().int().min(512).max(10240) }).optional(),
  DeadLetterConfig: z.object({ TargetArn: z.string().max(1024).optional() }).optional(),
  Layers: z
    .array(
      z
        .string()
        .min(1)
        .max(140)
        .regex(...pattern('arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+')),
    )
    .optional(),
  // Lambda's limit: one file system per function.
  FileSystemConfigs: z
    .array(
      z.strictObject({
        Arn: z
          .string()
          .max(200)
          .regex(
            ...pattern(
              'arn:aws[a-zA-Z-]*:elasticfilesystem:[a-z]{2}((-gov)|(-iso(b?)))?-[a-z]+-\\d{1}:\\d{12}:access-point/fsap-[a-f0-9]{17}',
            ),
          ),
        LocalMountPath: z
          .string()
          .max(160)
          .regex(...pattern('/mnt/[a-zA-Z0-9-_.]+')),
      }),
    )
    .max(1)
    .optional(),
};
const CodeSchema = z.object({
  ZipFile: z.string().optional(),
  S3Bucket: z.string().min(3).max(63).optional(),
  S3Key: z.string().min(1).max(1024).optional(),
  S3ObjectVersion: z.string().optional(),
  ImageUri: z.string().optional(),
});

const CreateSchema = z.object({
  FunctionName: z.string(),
  Code: CodeSchema,
  Tags: TagsSchema.optional(),
  PackageType: z.enum(['Zip']).optional(),
  Publish: z.boolean().optional(),
  ...ConfigFields,
});
const UpdateConfigSchema = z.object({
  ...ConfigFields,
  RevisionId: z.string().optional(),
  // Not a field of UpdateFunctionConfiguration; parsed only so the retired network tag is refused here too.
  Tags: TagsSchema.optional(),
});
const UpdateCodeSchema = z.object({
  ZipFile: z.string().optional(),
  S3Bucket: z.string().min(3).max(63).optional(),
  S3Key: z.string().min(1).max(1024).optional(),
  S3ObjectVersion: z.string().optional(),
  ImageUri: z.string().optional(),
  RevisionId: z.string().optional(),
  Publish: z.boolean().optional(),
  DryRun: z.boolean().optional(),
});
const ListQuery = z.object({
  MaxItems: z.number().int().min(1).max(10000).optional(),
  Marker: z.string().optional(),
});

/** Lambda's FunctionConfiguration JSON. State/LastUpdateStatus: extraction finishes within the request. */
export function configurationOf(rec: FunctionRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {
    FunctionName: rec.name,
    FunctionArn: rec.version === LATEST ? rec.arn : `${rec.arn}:${rec.version}`,
    Runtime: rec.runtime,
    Role: rec.role,
    Handler: rec.handler,
    CodeSize: rec.codeSize,
    Description: rec.description,
    Timeout: rec.timeout,
    MemorySize: rec.memorySize,
    LastModified: rec.lastModified,
    CodeSha256: rec.codeSha256,
    Version: rec.version,
    TracingConfig: { Mode: 'PassThrough' },
    RevisionId: rec.revisionId,
    State: 'Active',
    LastUpdateStatus: 'Successful',
    PackageType: 'Zip',
    Architectures: [process.arch === 'arm64' ? 'arm64' : 'x86_64'],
    EphemeralStorage: { Size: rec.ephemeralStorage },
    SnapStart: { ApplyOn: 'None', OptimizationStatus: 'Off' },
    LoggingConfig: { LogFormat: 'Text', LogGroup: `/aws/lambda/${rec.name}` },
  };
  // Where a name runs something else than it says (python3.x on the host's Python 3), the ARN says what.
  const version = runtimeEntry(rec.runtime)?.runtimeVersion?.(rec.arn.split(':')[3] ?? 'us-east-1');
  if (version !== undefined) out.RuntimeVersionConfig = { RuntimeVersionArn: version.arn };
  if (Object.keys(rec.environment).length > 0) out.Environment = { Variables: rec.environment };
  if (rec.deadLetterTargetArn) out.DeadLetterConfig = { TargetArn: rec.deadLetterTargetArn };
  if (rec.layers?.length) out.Layers = rec.layers.map((l) => ({ Arn: l.arn, CodeSize: l.codeSize }));
  if (rec.fileSystemConfigs?.length)
    out.FileSystemConfigs = rec.fileSystemConfigs.map((c) => ({
      Arn: c.arn,
      LocalMountPath: c.localMountPath,
    }));
  return out;
}

/** The function's Layers checked and resolved for the caller (Lambda's rules: layers.ts). */
async function layersOf(
  deps: LambdaApiDeps,
  tenant: Tenant,
  arns: string[] | undefined,
): Promise<FunctionLayer[] | undefined> {
  if (arns === undefined) return undefined;
  if (arns.length === 0) return [];
  if (!deps.layers)
    throw LambdaErrors.invalidParameter('Layers is not supported by Kindling for this operation.');
  return deps.layers.resolveForFunction(tenant, arns);
}

/** FileSystemConfigs checked for the caller: only its own access points (another's answers like a missing one). */
async function fileSystemsOf(
  deps: LambdaApiDeps,
  tenant: Tenant,
  configs: Array<{ Arn: string; LocalMountPath: string }> | undefined,
): Promise<FunctionConfig['fileSystemConfigs']> {
  if (configs === undefined) return undefined;
  if (configs.length === 0) return [];
  if (!deps.volumes)
    throw LambdaErrors.invalidParameter('FileSystemConfigs is not supported by Kindling here.');
  for (const c of configs) {
    if ((await deps.volumes.accessPointOf(tenant, c.Arn)) === undefined)
      throw LambdaErrors.invalidParameter(`FileSystemConfigs: the access point ${c.Arn} does not exist.`);
  }
  return configs.map((c) => ({ arn: c.Arn, localMountPath: c.LocalMountPath }));
}

function configPatch(input: z.infer<typeof UpdateConfigSchema>): Partial<FunctionConfig> {
  return {
    runtime: input.Runtime,
    role: input.Role,
    handler: input.Handler,
    description: input.Description,
    timeout: input.Timeout,
    memorySize: input.MemorySize,
    environment: input.Environment ? (input.Environment.Variables ?? {}) : undefined,
    ephemeralStorage: input.EphemeralStorage?.Size,
    deadLetterTargetArn: input.DeadLetterConfig ? (input.DeadLetterConfig.TargetArn ?? '') : undefined,
  };
}

interface CodeSource {
  ZipFile?: string;
  S3Bucket?: string;
  S3Key?: string;
  S3ObjectVersion?: string;
  ImageUri?: string;
}

/** The zip from Code.ZipFile, or from an object of the tenant's own bucket in the embedded store. */
async function zipOf(deps: LambdaApiDeps, tenant: Tenant, code: CodeSource): Promise<Buffer> {
  if (code.ImageUri !== undefined) {
    throw LambdaErrors.invalidParameter(
      'Container images are not supported: upload Code.ZipFile or use S3Bucket/S3Key.',
    );
  }
  if (code.S3Bucket !== undefined || code.S3Key !== undefined) {
    if (code.ZipFile !== undefined) {
      throw LambdaErrors.invalidParameter(
        'Please do not provide other FunctionCode parameters when providing a ZipFile.',
      );
    }
    if (!code.S3Bucket || !code.S3Key)
      throw LambdaErrors.invalidParameter('Please provide both S3Bucket and S3Key.');
    if (!deps.codeFromS3)
      throw LambdaErrors.invalidParameter('Code from S3 needs the object store, which is not running.');
    return deps.codeFromS3(tenant, code.S3Bucket, code.S3Key, CODE_LIMITS.zippedBytes);
  }
  if (code.ZipFile === undefined)
    throw LambdaErrors.invalidParameter('Please provide a source for function code.');
  const zip = Buffer.from(code.ZipFile, 'base64');
  if (zip.length > CODE_LIMITS.zippedBytes) throw CodeErrors.zipTooLarge(zip.length, CODE_LIMITS.zippedBytes);
  return zip;
}

/** The function a path names, for the calling tenant: $LATEST, a published version or an alias. */
export function functionFromPath(deps: LambdaApiDeps, req: ApiRequest, raw: string): Promise<FunctionRecord> {
  const qualifier = req.query.get('Qualifier') ?? undefined;
  if (qualifier !== undefined && !QUALIFIER.test(qualifier)) {
    throw validationError(
      qualifier,
      'qualifier',
      qualifier.length > 128
        ? 'Member must have length less than or equal to 128'
        : 'Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)',
    );
  }
  return deps.invoker.resolve(req.tenant, raw, qualifier);
}

const QUALIFIER = /^[a-zA-Z0-9$_-]{1,128}$/;

/**
 * The function a path names for an operation on the function itself ($LATEST): a version or alias
 * qualifier is refused by name instead of being applied to $LATEST.
 */
export async function unqualifiedFromPath(
  deps: LambdaApiDeps,
  req: ApiRequest,
  raw: string,
  operation: string,
): Promise<FunctionRecord> {
  const rec = await functionFromPath(deps, req, raw);
  if (rec.version !== LATEST || rec.qualifier !== undefined) {
    throw LambdaErrors.invalidParameter(
      `${operation} applies to the function ($LATEST); a qualifier (${rec.qualifier ?? rec.version}) is not supported.`,
    );
  }
  return rec;
}

/** Publish: true on CreateFunction / UpdateFunctionCode: the configuration answered is the new version's. */
async function published(deps: LambdaApiDeps, tenant: Tenant, rec: FunctionRecord): Promise<FunctionRecord> {
  if (!deps.versions)
    throw LambdaErrors.invalidParameter('Publish is not supported: versions are not enabled.');
  return deps.versions.publish(tenant, rec.name, { revisionId: rec.revisionId });
}

function getFunction(deps: LambdaApiDeps, req: ApiRequest, rec: FunctionRecord) {
  const out: Record<string, unknown> = {
    Configuration: configurationOf(rec),
    Code: { RepositoryType: 'S3', Location: deps.codeUrls.url(originOf(req), rec.tenantId, rec.codeDigest) },
  };
  if (Object.keys(rec.tags).length > 0) out.Tags = rec.tags;
  if (rec.reservedConcurrency !== null)
    out.Concurrency = { ReservedConcurrentExecutions: rec.reservedConcurrency };
  return out;
}

function queryNumber(req: ApiRequest, name: string): number | undefined {
  const v = req.query.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n))
    throw validationError(v, name[0]!.toLowerCase() + name.slice(1), 'Member must be a number');
  return n;
}

export async function createFunction(
  deps: LambdaApiDeps,
  tenant: Tenant,
  body: Buffer,
): Promise<FunctionRecord> {
  const input = validateBody(CreateSchema, body);
  const ref = parseFunctionRef(input.FunctionName, 'functionName', { create: true });
  if (ref.accountId !== undefined && ref.accountId !== tenant.accountId) {
    throw LambdaErrors.accessDenied(
      `The account ${tenant.accountId} cannot create functions in account ${ref.accountId}.`,
    );
  }
  if (!input.Runtime || !input.Handler) {
    throw LambdaErrors.invalidParameter(
      'Runtime and Handler are mandatory parameters for functions created with deployment packages.',
    );
  }
  checkTags(input.Tags);
  // Before the code is read: a runtime this host does not run is refused as such.
  checkRuntime(input.Runtime);
  if (input.Tags && Object.keys(input.Tags).length > 50) {
    throw LambdaErrors.invalidParameter('Number of tags exceeds resource tag limit of 50.');
  }
  const layers = await layersOf(deps, tenant, input.Layers);
  const fileSystemConfigs = await fileSystemsOf(deps, tenant, input.FileSystemConfigs);
  const zip = await zipOf(deps, tenant, input.Code);
  const patch = configPatch(input);
  return deps.functions.create(tenant, {
    ...patch,
    layers,
    fileSystemConfigs,
    name: ref.name,
    runtime: input.Runtime,
    handler: input.Handler,
    zip,
    tags: input.Tags,
    deadLetterTargetArn: input.DeadLetterConfig?.TargetArn || undefined,
  });
}

export function functionRoutes(deps: LambdaApiDeps): LambdaRoute[] {
  const F = '/2015-03-31/functions';
  return [
    {
      method: 'POST',
      path: F,
      operation: 'CreateFunction',
      maxBodyBytes: CODE_BODY_LIMIT,
      async handle(req) {
        const rec = await createFunction(deps, req.tenant, req.body);
        const publish = (parseJsonBody(req.body) as { Publish?: unknown }).Publish === true;
        return json(201, configurationOf(publish ? await published(deps, req.tenant, rec) : rec));
      },
    },
    {
      method: 'GET',
      path: F,
      operation: 'ListFunctions',
      async handle(req) {
        // Never accept and drop: listing every version of every function is not done here.
        if (req.query.has('FunctionVersion'))
          throw LambdaErrors.invalidParameter(
            'FunctionVersion is not supported by Kindling for ListFunctions: use ListVersionsByFunction.',
          );
        const q = validate(ListQuery, {
          MaxItems: queryNumber(req, 'MaxItems'),
          Marker: req.query.get('Marker') ?? undefined,
        });
        const page = await deps.functions.list(req.tenant.id, { marker: q.Marker, maxItems: q.MaxItems });
        const out: Record<string, unknown> = { Functions: page.functions.map(configurationOf) };
        if (page.nextMarker) out.NextMarker = page.nextMarker;
        return json(200, out);
      },
    },
    {
      method: 'GET',
      path: `${F}/{FunctionName}`,
      operation: 'GetFunction',
      async handle(req, p) {
        return json(200, getFunction(deps, req, await functionFromPath(deps, req, p.FunctionName!)));
      },
    },
    {
      method: 'GET',
      path: `${F}/{FunctionName}/configuration`,
      operation: 'GetFunctionConfiguration',
      async handle(req, p) {
        return json(200, configurationOf(await functionFromPath(deps, req, p.FunctionName!)));
      },
    },
    {
      method: 'PUT',
      path: `${F}/{FunctionName}/configuration`,
      operation: 'UpdateFunctionConfiguration',
      async handle(req, p) {
        const rec = await unqualifiedFromPath(deps, req, p.FunctionName!, 'UpdateFunctionConfiguration');
        const input = validateBody(UpdateConfigSchema, req.body);
        refuseNetworkTag(input.Tags);
        const patch = {
          ...configPatch(input),
          layers: await layersOf(deps, req.tenant, input.Layers),
          fileSystemConfigs: await fileSystemsOf(deps, req.tenant, input.FileSystemConfigs),
        };
        const updated = await deps.functions.updateConfiguration(req.tenant, rec.name, patch, {
          revisionId: input.RevisionId,
        });
        return json(200, configurationOf(updated));
      },
    },
    {
      method: 'PUT',
      path: `${F}/{FunctionName}/code`,
      operation: 'UpdateFunctionCode',
      maxBodyBytes: CODE_BODY_LIMIT,
      async handle(req, p) {
        const rec = await unqualifiedFromPath(deps, req, p.FunctionName!, 'UpdateFunctionCode');
        const input = validateBody(UpdateCodeSchema, req.body);
        const zip = await zipOf(deps, req.tenant, input);
        if (input.DryRun) return json(200, configurationOf(rec));
        const updated = await deps.functions.updateCode(req.tenant, rec.name, zip, {
          revisionId: input.RevisionId,
        });
        return json(
          200,
          configurationOf(input.Publish ? await published(deps, req.tenant, updated) : updated),
        );
      },
    },
    {
      method: 'DELETE',
      path: `${F}/{FunctionName}`,
      operation: 'DeleteFunction',
      async handle(req, p) {
        const rec = await functionFromPath(deps, req, p.FunctionName!);
        const qualifier = req.query.get('Qualifier') ?? parseFunctionRef(p.FunctionName!).qualifier;
        if (qualifier === LATEST) {
          throw LambdaErrors.invalidParameter(
            '$LATEST version cannot be deleted without deleting the function.',
          );
        }
        if (qualifier !== undefined) {
          // One published version; an alias is deleted with DeleteAlias, as on Lambda.
          if (rec.qualifier !== rec.version || !deps.versions)
            throw LambdaErrors.invalidParameter(
              `Deletion of aliases is not supported by DeleteFunction: use DeleteAlias for ${qualifier}.`,
            );
          await deps.versions.deleteVersion(req.tenant, rec, rec.version);
          return { status: 204 };
        }
        await deps.functions.delete(req.tenant, rec.name);
        return { status: 204 };
      },
    },
  ];
}
