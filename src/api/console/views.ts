// What the web console's pages show, as JSON (`/console/api/...`), read from the services in-process and
// scoped to the signed-in tenant only: every name or ARN goes through the same per-tenant lookups the
// APIs use, so another tenant's function, queue or bucket answers exactly as a missing one does.
import { parseFunctionArn } from '../../control/arn.js';
import type { FunctionUrl } from '../../control/function-urls.js';
import type { FunctionRecord, ListPage } from '../../control/functions.js';
import type { Tenant } from '../../control/tenants.js';
import { KindlingError, LambdaErrors } from '../../errors.js';
import type { BucketInfo, ListOptions, ListResult } from '../../events/objects/types.js';
import type { QueueEngine } from '../../events/queue/types.js';
import type { SyncInvokeResult } from '../../invoke/types.js';
import type { BillingQuery, BillingRecord } from '../../telemetry/billing-repo.js';
import type { LogQuery, StoredLog } from '../../telemetry/log-repo.js';
import type { FunctionStats } from '../../telemetry/metrics.js';
import type { WorkerStats } from '../../worker/types.js';
import { URL_PREFIX } from '../lambda/function-urls.js';

/** A published version as the console lists it (from the control plane, once it has versions). */
export interface VersionView {
  version: string;
  description?: string;
  codeSha256: string;
  lastModified: string;
}

/** An alias as the console lists it. */
export interface AliasView {
  name: string;
  functionVersion: string;
  description?: string;
  /** Weighted routing to a second version: version → weight (0–1). */
  additionalVersionWeights?: Record<string, number>;
}

/** The services the console reads, in-process (never HTTP to itself). */
export interface ConsoleViewDeps {
  functions: { list(tenantId: string, opts?: { marker?: string; maxItems?: number }): Promise<ListPage> };
  /** A name or ARN of the tenant's own function (invocations.resolve): another tenant's is not found. */
  resolve(tenant: Tenant, ref: string): Promise<FunctionRecord>;
  execute(tenant: Tenant, rec: FunctionRecord, payload: Buffer): Promise<SyncInvokeResult>;
  urls: { list(functionId: string): Promise<FunctionUrl[]> };
  /**
   * Published versions and aliases of a function. The slot for the control plane's versions and aliases:
   * until it is wired, the console shows $LATEST only and says so.
   */
  versions?: (
    tenant: Tenant,
    rec: FunctionRecord,
  ) => Promise<{ versions: VersionView[]; aliases: AliasView[] }>;
  telemetry: {
    flush(): Promise<void>;
    logs: { list(tenantId: string, functionName: string, q?: LogQuery): Promise<StoredLog[]> };
    billing: { list(q?: BillingQuery): Promise<BillingRecord[]> };
    metrics: { functionStats(tenantId: string): Record<string, FunctionStats> };
  };
  queues: Pick<QueueEngine, 'listQueues' | 'counts'>;
  objects: {
    listBuckets(tenantId: string): Promise<BucketInfo[]>;
    listObjects(tenantId: string, bucket: string, opts: ListOptions): Promise<ListResult>;
  };
  /** This node's live environments (WorkerManager.environments). */
  environments(): Array<{ state: string; functionArn?: string }>;
  /** This node's worker figures: the warming pools are platform-wide, shown to the admin tenant only. */
  workerStats(): WorkerStats;
}

export const ConsoleErrors = {
  badRequest: (message: string) => new KindlingError('InvalidRequestContentException', 400, message),
  bucketNotFound: (name: string) =>
    new KindlingError('ResourceNotFoundException', 404, `Bucket not found: ${name}`),
};

/** Lambda's tail log is the last 4 KB of the invocation's log. */
const TAIL_BYTES = 4096;
/** Lambda's synchronous payload limit. */
export const MAX_INVOKE_PAYLOAD = 6 * 1024 * 1024;
/** Listings stop here: the console is for looking, the APIs are for bulk. */
const MAX_LISTED = 1000;
const MAX_QUEUES_COUNTED = 200;

function tail(log: string): string {
  const b = Buffer.from(log, 'utf8');
  return b.length <= TAIL_BYTES ? log : b.subarray(b.length - TAIL_BYTES).toString('utf8');
}

function summary(f: FunctionRecord) {
  return {
    name: f.name,
    arn: f.arn,
    runtime: f.runtime,
    handler: f.handler,
    memorySize: f.memorySize,
    timeout: f.timeout,
    codeSize: f.codeSize,
    description: f.description,
    lastModified: f.lastModified,
  };
}

export async function listFunctions(d: ConsoleViewDeps, tenant: Tenant) {
  const out: FunctionRecord[] = [];
  let marker: string | undefined;
  do {
    const page = await d.functions.list(tenant.id, { maxItems: 50, ...(marker !== undefined && { marker }) });
    out.push(...page.functions);
    marker = page.nextMarker;
  } while (marker !== undefined && out.length < MAX_LISTED);
  return { functions: out.map(summary), truncated: marker !== undefined };
}

export async function functionDetail(d: ConsoleViewDeps, tenant: Tenant, ref: string, host: string) {
  const f = await d.resolve(tenant, ref);
  const urls = await d.urls.list(f.id);
  const latest: VersionView = { version: '$LATEST', codeSha256: f.codeSha256, lastModified: f.lastModified };
  const published = d.versions ? await d.versions(tenant, f) : undefined;
  return {
    function: {
      ...summary(f),
      role: f.role,
      ephemeralStorage: f.ephemeralStorage,
      environment: f.environment,
      tags: f.tags,
      reservedConcurrency: f.reservedConcurrency,
      deadLetterTargetArn: f.deadLetterTargetArn ?? null,
      codeSha256: f.codeSha256,
      revisionId: f.revisionId,
    },
    urls: urls.map((u) => ({
      url: `http://${host}${URL_PREFIX}${u.urlId}/`,
      qualifier: u.qualifier,
      authType: u.authType,
      invokeMode: u.invokeMode,
      cors: u.cors ?? null,
      creationTime: u.creationTime,
    })),
    versions: [latest, ...(published?.versions ?? []).filter((v) => v.version !== '$LATEST')],
    aliases: published?.aliases ?? [],
    // False until the control plane's versions and aliases are wired (ConsoleViewDeps.versions).
    versioning: published !== undefined,
  };
}

export async function invoke(d: ConsoleViewDeps, tenant: Tenant, ref: string, body: Buffer) {
  if (body.length > 0) {
    try {
      JSON.parse(body.toString('utf8'));
    } catch {
      throw LambdaErrors.invalidRequestContent('Could not parse request body into json.');
    }
  }
  const f = await d.resolve(tenant, ref);
  const r = await d.execute(tenant, f, body.length > 0 ? body : Buffer.from('{}'));
  return {
    requestId: r.requestId,
    executedVersion: r.executedVersion,
    functionError: r.functionError ?? null,
    payload: r.payload.toString('utf8'),
    logTail: tail(r.log),
    durationMs: r.durationMs,
    billedDurationMs: r.billedDurationMs,
    maxMemoryUsedMB: r.maxMemoryUsedMB,
    initDurationMs: r.initDurationMs ?? null,
    start: r.start,
  };
}

export async function logs(d: ConsoleViewDeps, tenant: Tenant, ref: string, query: URLSearchParams) {
  const f = await d.resolve(tenant, ref);
  const after = intParam(query, 'after', 0, Number.MAX_SAFE_INTEGER);
  const limit = intParam(query, 'limit', 1, 200) ?? 50;
  await d.telemetry.flush();
  const events = await d.telemetry.logs.list(tenant.id, f.name, {
    limit,
    ...(after !== undefined && { after }),
  });
  return {
    functionName: f.name,
    events: events.map((e) => ({
      seq: e.seq,
      requestId: e.requestId,
      version: e.version,
      timestamp: e.timestamp,
      start: e.start,
      durationMs: e.durationMs,
      errorType: e.errorType,
      log: e.log,
    })),
    nextAfter: events.at(-1)?.seq ?? after ?? 0,
  };
}

export async function queues(d: ConsoleViewDeps, tenant: Tenant) {
  const { queues: list } = await d.queues.listQueues(tenant, { maxResults: MAX_LISTED });
  const shown = list.slice(0, MAX_QUEUES_COUNTED);
  const counts = await Promise.all(shown.map((q) => d.queues.counts(q)));
  return {
    queues: shown.map((q, i) => ({
      name: q.name,
      arn: q.arn,
      fifo: q.fifo,
      createdAt: new Date(q.createdAt * 1000).toISOString(),
      ...counts[i]!,
    })),
    truncated: list.length > shown.length,
  };
}

export async function buckets(d: ConsoleViewDeps, tenant: Tenant) {
  const list = await d.objects.listBuckets(tenant.id);
  return { buckets: list.map((b) => ({ name: b.name, createdAt: b.createdAt.toISOString() })) };
}

/** Objects of one of the tenant's buckets; a bucket it does not own is not found (never AccessDenied). */
export async function bucketObjects(
  d: ConsoleViewDeps,
  tenant: Tenant,
  name: string,
  query: URLSearchParams,
) {
  const own = (await d.objects.listBuckets(tenant.id)).some((b) => b.name === name);
  if (!own) throw ConsoleErrors.bucketNotFound(name);
  const prefix = query.get('prefix') ?? undefined;
  if (prefix !== undefined && Buffer.byteLength(prefix) > 1024)
    throw ConsoleErrors.badRequest('prefix too long');
  const r = await d.objects.listObjects(tenant.id, name, {
    maxKeys: 100,
    ...(prefix !== undefined && { prefix }),
  });
  return {
    bucket: name,
    objects: r.contents.map((o) => ({
      key: o.key,
      size: o.size,
      lastModified: o.lastModified.toISOString(),
    })),
    truncated: r.isTruncated,
  };
}

/**
 * The tenant's view of execution: its own environments on this node per function, its warm and cold
 * starts (pool hits apart from new sandboxes) and init times. The warming pools serve every tenant, so
 * their figures are the admin tenant's only (as the metrics API keeps platform-wide gauges from tenants).
 */
export async function environments(d: ConsoleViewDeps, tenant: Tenant) {
  const byFn = new Map<string, { bound: number; busy: number; other: number }>();
  for (const e of d.environments()) {
    if (e.functionArn === undefined) continue;
    const arn = parseFunctionArn(e.functionArn);
    if (arn?.accountId !== tenant.accountId) continue;
    const c = byFn.get(arn.name) ?? { bound: 0, busy: 0, other: 0 };
    if (e.state === 'bound') c.bound++;
    else if (e.state === 'busy') c.busy++;
    else c.other++;
    byFn.set(arn.name, c);
  }
  const stats = d.telemetry.metrics.functionStats(tenant.id);
  const names = [...new Set([...byFn.keys(), ...Object.keys(stats)])].sort();
  const pools = tenant.isAdmin ? d.workerStats().pools : undefined;
  return {
    functions: names.map((name) => {
      const s = stats[name];
      return {
        name,
        environments: byFn.get(name) ?? { bound: 0, busy: 0, other: 0 },
        invocations: s?.invocations ?? 0,
        errors: s?.errors ?? 0,
        throttles: s?.throttles ?? 0,
        warmStarts: s?.warm ?? 0,
        poolStarts: s?.pool ?? 0,
        coldStarts: s?.cold ?? 0,
        avgInitMs: s && s.inits > 0 ? s.initMs / s.inits : null,
      };
    }),
    pools: pools ?? null,
  };
}

/** GB-seconds per function and hour over the last `hours` (1–720, default 24). */
export async function billing(d: ConsoleViewDeps, tenant: Tenant, query: URLSearchParams, now = Date.now()) {
  const hours = intParam(query, 'hours', 1, 720) ?? 24;
  const from = Math.floor((now - (hours - 1) * 3_600_000) / 3_600_000) * 3_600_000;
  await d.telemetry.flush();
  const records = await d.telemetry.billing.list({ tenantId: tenant.id, from });
  const perFunction = new Map<string, { invocations: number; gbSeconds: number }>();
  for (const r of records) {
    const t = perFunction.get(r.functionName) ?? { invocations: 0, gbSeconds: 0 };
    t.invocations += r.invocations;
    t.gbSeconds += r.gbMs / 1000;
    perFunction.set(r.functionName, t);
  }
  return {
    from: new Date(from).toISOString(),
    hours,
    records: records.map((r) => ({
      functionName: r.functionName,
      hour: r.hour,
      invocations: r.invocations,
      billedDurationMs: r.billedDurationMs,
      gbSeconds: r.gbMs / 1000,
    })),
    functions: [...perFunction.entries()].map(([name, t]) => ({ name, ...t })),
  };
}

function intParam(q: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const v = q.get(name);
  if (v === null) return undefined;
  const n = /^\d{1,16}$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw ConsoleErrors.badRequest(`${name} must be an integer from ${min} to ${max}`);
  return n;
}
