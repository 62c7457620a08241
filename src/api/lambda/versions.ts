// PublishVersion, ListVersionsByFunction and the alias operations (CreateAlias, GetAlias, ListAliases,
// UpdateAlias, DeleteAlias), with Lambda's paths, status codes and JSON shapes.
import { z } from 'zod';
import { validationError } from '../../control/function-names.js';
import { ALIAS_PATTERN, type AliasRecord, type VersionStore } from '../../control/versions.js';
import type { LambdaApiDeps } from './deps.js';
import { json } from './errors.js';
import { configurationOf, unqualifiedFromPath } from './functions.js';
import type { LambdaRoute } from './routes.js';
import { pattern, validate, validateBody } from './validation.js';

const VERSION_PATTERN = '(\\$LATEST|[0-9]+)';
const AliasName = z
  .string()
  .min(1)
  .max(128)
  .regex(...pattern(ALIAS_PATTERN));
const FunctionVersion = z
  .string()
  .min(1)
  .max(1024)
  .regex(...pattern(VERSION_PATTERN));
const RoutingConfig = z.object({
  AdditionalVersionWeights: z
    .record(
      z
        .string()
        .min(1)
        .max(1024)
        .regex(...pattern('[0-9]+')),
      z.number().min(0).max(1),
    )
    .optional(),
});

const PublishSchema = z.object({
  CodeSha256: z.string().optional(),
  Description: z.string().max(256).optional(),
  RevisionId: z.string().optional(),
});
const CreateAliasSchema = z.object({
  Name: AliasName,
  FunctionVersion,
  Description: z.string().max(256).optional(),
  RoutingConfig: RoutingConfig.optional(),
});
const UpdateAliasSchema = z.object({
  FunctionVersion: FunctionVersion.optional(),
  Description: z.string().max(256).optional(),
  RoutingConfig: RoutingConfig.optional(),
  RevisionId: z.string().optional(),
});
const ListQuery = z.object({
  MaxItems: z.number().int().min(1).max(10000).optional(),
  Marker: z.string().optional(),
  FunctionVersion: FunctionVersion.optional(),
});

/** Lambda's AliasConfiguration JSON. */
function aliasOf(a: AliasRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {
    AliasArn: a.arn,
    Name: a.name,
    FunctionVersion: a.functionVersion,
    Description: a.description,
    RevisionId: a.revisionId,
  };
  if (Object.keys(a.weights).length > 0) out.RoutingConfig = { AdditionalVersionWeights: a.weights };
  return out;
}

function listQuery(query: URLSearchParams, withVersion: boolean) {
  const max = query.get('MaxItems');
  const n = max === null || max === '' ? undefined : Number(max);
  if (n !== undefined && !Number.isFinite(n))
    throw validationError(max, 'maxItems', 'Member must be a number');
  return validate(ListQuery, {
    MaxItems: n,
    Marker: query.get('Marker') ?? undefined,
    FunctionVersion: withVersion ? (query.get('FunctionVersion') ?? undefined) : undefined,
  });
}

/** Alias names in the path are checked as Lambda's pattern before any lookup. */
function aliasName(raw: string): string {
  return validate(z.object({ Name: AliasName }), { Name: raw }).Name;
}

export function versionRoutes(deps: LambdaApiDeps, versions: VersionStore): LambdaRoute[] {
  const F = '/2015-03-31/functions/{FunctionName}';
  return [
    {
      method: 'POST',
      path: `${F}/versions`,
      operation: 'PublishVersion',
      async handle(req, p) {
        const fn = await unqualifiedFromPath(deps, req, p.FunctionName!, 'PublishVersion');
        const input = validateBody(PublishSchema, req.body);
        const rec = await versions.publish(req.tenant, fn.name, {
          codeSha256: input.CodeSha256,
          revisionId: input.RevisionId,
          description: input.Description,
        });
        return json(201, configurationOf(rec));
      },
    },
    {
      method: 'GET',
      path: `${F}/versions`,
      operation: 'ListVersionsByFunction',
      async handle(req, p) {
        const fn = await unqualifiedFromPath(deps, req, p.FunctionName!, 'ListVersionsByFunction');
        const q = listQuery(req.query, false);
        const page = await versions.list(fn, { marker: q.Marker, maxItems: q.MaxItems });
        const out: Record<string, unknown> = { Versions: page.versions.map(configurationOf) };
        if (page.nextMarker) out.NextMarker = page.nextMarker;
        return json(200, out);
      },
    },
    {
      method: 'POST',
      path: `${F}/aliases`,
      operation: 'CreateAlias',
      async handle(req, p) {
        const fn = await unqualifiedFromPath(deps, req, p.FunctionName!, 'CreateAlias');
        const input = validateBody(CreateAliasSchema, req.body);
        const a = await versions.createAlias(req.tenant, fn, input.Name, {
          functionVersion: input.FunctionVersion,
          description: input.Description,
          weights: input.RoutingConfig?.AdditionalVersionWeights ?? {},
        });
        return json(201, aliasOf(a));
      },
    },
    {
      method: 'GET',
      path: `${F}/aliases`,
      operation: 'ListAliases',
      async handle(req, p) {
        const fn = await unqualifiedFromPath(deps, req, p.FunctionName!, 'ListAliases');
        const q = listQuery(req.query, true);
        const page = await versions.listAliases(fn, {
          functionVersion: q.FunctionVersion,
          marker: q.Marker,
          maxItems: q.MaxItems,
        });
        const out: Record<string, unknown> = { Aliases: page.aliases.map(aliasOf) };
        if (page.nextMarker) out.NextMarker = page.nextMarker;
        return json(200, out);
      },
    },
    {
      method: 'GET',
      path: `${F}/aliases/{Name}`,
      operation: 'GetAlias',
      async handle(req, p) {
        const fn = await unqualifiedFromPath(deps, req, p.FunctionName!, 'GetAlias');
        return json(200, aliasOf(await versions.getAlias(fn, aliasName(p.Name!))));
      },
    },
    {
      method: 'PUT',
      path: `${F}/aliases/{Name}`,
      operation: 'UpdateAlias',
      async handle(req, p) {
        const fn = await unqualifiedFromPath(deps, req, p.FunctionName!, 'UpdateAlias');
        const name = aliasName(p.Name!);
        const input = validateBody(UpdateAliasSchema, req.body);
        const a = await versions.updateAlias(req.tenant, fn, name, {
          functionVersion: input.FunctionVersion,
          description: input.Description,
          weights: input.RoutingConfig ? (input.RoutingConfig.AdditionalVersionWeights ?? {}) : undefined,
          revisionId: input.RevisionId,
        });
        return json(200, aliasOf(a));
      },
    },
    {
      method: 'DELETE',
      path: `${F}/aliases/{Name}`,
      operation: 'DeleteAlias',
      async handle(req, p) {
        const fn = await unqualifiedFromPath(deps, req, p.FunctionName!, 'DeleteAlias');
        await versions.deleteAlias(req.tenant, fn, aliasName(p.Name!));
        return { status: 204 };
      },
    },
  ];
}
