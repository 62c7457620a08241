// The invocation service: resolves a function reference for a tenant, turns the stored function into
// the worker's FunctionVersionSpec (cached per versionKey), runs it and reports it to the observers.
// Admission (reserved concurrency, throttles) is the worker's alone: the service only relays the worker's
// throttle reports to its observers. Async invocation is not here: see composeInvoker (./invoker.ts).
import type { PlatformConfig } from '../config.js';
import { parseFunctionRef } from '../control/function-names.js';
import {
  type FunctionRecord,
  type FunctionStore,
  isSingleUse,
  LATEST,
  lifecycleOf,
} from '../control/functions.js';
import type { Tenant, TenantStore } from '../control/tenants.js';
import type { VersionStore } from '../control/versions.js';
import { KindlingError, LambdaErrors } from '../errors.js';
import { requestId as newRequestId } from '../ids.js';
import type { SandboxVolume } from '../sandbox/driver.js';
import type { InvocationObserver, InvocationRecord } from '../telemetry/types.js';
import type { FunctionVersionSpec, InvokeOptions, PrewarmResult, Worker } from '../worker/types.js';
import type { Invoker, SyncInvokeOptions, SyncInvokeResult } from './types.js';

/** Functions' session credentials live this long and are replaced once less than half remains. */
const CREDENTIALS_TTL_MS = 12 * 60 * 60_000;

export interface RunOptions extends SyncInvokeOptions {
  /** How the observers record it; the async invoker runs queued events through `run` as 'Event'. */
  invocationType?: 'RequestResponse' | 'Event';
  /** Response streaming: where a streaming handler's bytes go as they are written. */
  stream?: InvokeOptions['stream'];
}

interface PreparedVersion {
  versionKey: string;
  /** The access point its environments mount, if any (they go when it is deleted). */
  accessPointId?: string;
  spec: FunctionVersionSpec;
  /** The record's tags the spec's lifecycle was read from (a changed record carries a new object). */
  tags: Record<string, string>;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken: string };
  credentialsExpireAt: number;
  /** Credentials being minted: one store write however many requests ask at once. */
  minting?: Promise<InvokeOptions['credentials']>;
}

export interface InvocationServiceOptions {
  config: PlatformConfig;
  tenants: TenantStore;
  functions: FunctionStore;
  worker: Worker;
  /** Published versions and aliases; without it only $LATEST resolves. */
  versions?: VersionStore;
  observers?: InvocationObserver[];
  /** Shared volumes (FileSystemConfigs); without it a function with one fails to mount. */
  volumes?: VolumeMounter;
}

/** What the service needs of the volumes: an access point resolved for a sandbox, and its deletions. */
export interface VolumeMounter {
  mountFor(
    owner: { id: string; accountId: string },
    arn: string,
    dest: string,
  ): Promise<SandboxVolume & { accessPointId: string }>;
  onAccessPointDeleted(listener: (ap: { id: string }) => void): void;
}

/** Lambda's answer when a function's file system cannot be mounted (a deleted access point, ...). */
const mountFailure = (why: string) =>
  new KindlingError('EFSMountFailureException', 403, `The function couldn't mount its file system: ${why}.`, {
    Type: 'User',
  });

/**
 * The record a request to `rec` runs: an alias with weighted routing sends that share of requests to its
 * other version. The answer has no routing left, so choosing again (execute does) keeps the choice.
 */
export function routed(rec: FunctionRecord): FunctionRecord {
  if (rec.routing === undefined) return rec;
  return Math.random() < rec.routing.weight ? rec.routing.record : { ...rec, routing: undefined };
}

export class InvocationService implements Pick<Invoker, 'invokeSync'> {
  readonly #config: PlatformConfig;
  readonly #tenants: TenantStore;
  readonly #functions: FunctionStore;
  readonly #worker: Worker;
  readonly #versions: VersionStore | undefined;
  readonly #observers: InvocationObserver[];
  /** By function id ($LATEST) or `id:version`: the spec (and credentials) of its current versionKey. */
  readonly #prepared = new Map<string, PreparedVersion>();
  readonly #preparing = new Map<string, Promise<PreparedVersion>>();
  readonly #volumes: VolumeMounter | undefined;
  /** Records of this I/O turn, for the observers (#observe). */
  #observing: InvocationRecord[] = [];

  constructor(opts: InvocationServiceOptions) {
    this.#config = opts.config;
    this.#tenants = opts.tenants;
    this.#functions = opts.functions;
    this.#worker = opts.worker;
    this.#versions = opts.versions;
    this.#observers = [...(opts.observers ?? [])];
    this.#volumes = opts.volumes;
    // A deleted access point: the environments mounting it go, and the next request fails to mount.
    this.#volumes?.onAccessPointDeleted((ap) => {
      for (const [id, p] of this.#prepared) {
        if (p.accessPointId !== ap.id) continue;
        this.#prepared.delete(id);
        this.#worker.retireFunction(p.spec.functionArn);
      }
    });
    this.#worker.onThrottle((tenantId, arn) => this.#throttled(tenantId, arn));
    this.#functions.onChange((change) => {
      const rec = change.record;
      if (change.kind === 'created') {
        // Ready before its first request: the spec (a store read) and credentials (a store write) are
        // then not on that request's path. Only where it was created: other nodes may never run it.
        if (change.remote !== true) void this.#ready(rec);
        return;
      }
      if (change.kind === 'deleted') {
        this.#prepared.delete(rec.id);
        for (const k of this.#prepared.keys()) if (k.startsWith(`${rec.id}:`)) this.#prepared.delete(k);
        this.#worker.retireFunction(rec.arn);
      } else if (change.record.versionKey !== change.previous.versionKey) {
        // $LATEST changed; published versions keep their environments.
        this.#prepared.delete(rec.id);
        this.#worker.retireFunction(rec.arn, rec.versionKey, LATEST);
      } else {
        // Reserved concurrency or tags changed: same environments, same spec but the reservation and the
        // lifecycle. Turned single-use, the warm environments (holding earlier requests' state) go.
        if (isSingleUse(rec.tags) && !isSingleUse(change.previous.tags)) this.#worker.retireFunction(rec.arn);
        const p = this.#prepared.get(rec.id);
        if (p) refresh(p, rec);
      }
    });
    this.#versions?.onVersionDeleted((d) => {
      this.#prepared.delete(`${d.functionId}:${d.version}`);
      this.#worker.retireFunction(d.functionArn, undefined, d.version);
    });
    // An admin changed the tenant's network grant: its environments were built for the old one.
    this.#tenants.onNetworkChange((tenant) => {
      for (const [id, p] of this.#prepared) if (p.spec.tenantId === tenant.id) this.#prepared.delete(id);
      this.#worker.retireTenant(tenant.id);
    });
  }

  get worker(): Worker {
    return this.#worker;
  }

  addObserver(observer: InvocationObserver): void {
    this.#observers.push(observer);
  }

  /** Resolves a name / partial ARN / full ARN (+ qualifier) for the tenant; 404 when not its function. */
  async resolve(tenant: Tenant, functionRef: string, qualifier?: string): Promise<FunctionRecord> {
    const ref = parseFunctionRef(functionRef);
    if (qualifier !== undefined && ref.qualifier !== undefined && qualifier !== ref.qualifier) {
      throw LambdaErrors.invalidParameter(
        'The derived qualifier from the function name does not match the specified qualifier.',
      );
    }
    const q = qualifier ?? ref.qualifier;
    const rec = await this.#functions.resolve(tenant, { ...ref, qualifier: q });
    if (q === undefined || q === LATEST) return rec;
    if (this.#versions === undefined) throw LambdaErrors.functionNotFound(`${rec.arn}:${q}`);
    return this.#versions.resolve(rec, q);
  }

  async invokeSync(
    tenant: Tenant,
    functionRef: string,
    payload: Buffer,
    opts: SyncInvokeOptions = {},
  ): Promise<SyncInvokeResult> {
    // Just resolved: current by construction, no second read of the store.
    return this.execute(tenant, await this.resolve(tenant, functionRef, opts.qualifier), payload, opts);
  }

  /**
   * Kindling's pre-trigger: `count` environments of the function initialised now and kept warm for
   * `forMs` (ahead of an expected burst), on this node. No more than the function may run at once.
   */
  async prewarm(
    tenant: Tenant,
    functionRef: string,
    count: number,
    forMs: number,
  ): Promise<PrewarmResult & { functionArn: string; expiresAt: number }> {
    const rec = await this.resolve(tenant, functionRef);
    const prepared = await this.#prepare(rec);
    const tenantConcurrency = tenant.concurrencyLimit ?? this.#config.tenantConcurrency;
    const cap = prepared.spec.reservedConcurrency ?? tenantConcurrency;
    if (count > cap) {
      throw LambdaErrors.invalidParameter(
        `Cannot prewarm ${count} environments of ${rec.name}: it may run at most ${cap} at once.`,
      );
    }
    await this.#functions.code.ensureCodeDir(rec.codeDigest);
    const expiresAt = Date.now() + forMs;
    const r = await this.#worker.prewarm(prepared.spec, count, expiresAt, {
      credentials: await this.#credentials(prepared, tenant.id),
      tenantConcurrency,
    });
    return { ...r, functionArn: rec.arn, expiresAt };
  }

  /**
   * Runs a function resolved a while ago (a queued event). Throws TooManyRequestsException when the
   * worker throttles it.
   */
  async run(
    tenant: Tenant,
    rec: FunctionRecord,
    payload: Buffer,
    opts: RunOptions = {},
  ): Promise<SyncInvokeResult> {
    // The record may be outdated: run what the function (or the version or alias it was named by) is now,
    // and nothing if it was deleted (or deleted and created anew) meanwhile.
    const q = opts.qualifier ?? rec.qualifier;
    const current =
      q === undefined || q === LATEST
        ? await this.#functions.get(tenant.id, rec.name)
        : await this.resolve(tenant, rec.name, q);
    if (!current || current.id !== rec.id || current.tenantId !== tenant.id)
      throw LambdaErrors.functionNotFound(rec.arn);
    return this.execute(tenant, current, payload, opts);
  }

  /** Runs a record the caller resolved just now (the Lambda Invoke request): not read again. */
  async execute(
    tenant: Tenant,
    rec: FunctionRecord,
    payload: Buffer,
    opts: RunOptions = {},
  ): Promise<SyncInvokeResult> {
    rec = routed(rec);
    // The warm path awaits nothing here: a prepared version, extracted code and valid credentials are at hand.
    const preparing = this.#prepare(rec);
    const prepared = preparing instanceof Promise ? await preparing : preparing;
    const spec = prepared.spec;
    // A node that never saw the upload extracts the code from the blob store first (once per digest).
    const code = this.#functions.code;
    if (!code.isExtracted(rec.codeDigest)) await code.ensureCodeDir(rec.codeDigest);
    const minting = this.#credentials(prepared, tenant.id);
    const invokeOpts: InvokeOptions = {
      requestId: opts.requestId ?? newRequestId(),
      clientContext: opts.clientContext,
      credentials: minting instanceof Promise ? await minting : minting,
      tenantConcurrency: tenant.concurrencyLimit ?? this.#config.tenantConcurrency,
    };
    if (opts.stream !== undefined) invokeOpts.stream = opts.stream;
    const timestamp = Date.now();
    const result = await this.#worker.invoke(spec, payload, invokeOpts);
    const record: InvocationRecord = {
      tenantId: tenant.id,
      accountId: tenant.accountId,
      functionName: spec.functionName,
      functionArn: spec.functionArn,
      version: spec.version,
      requestId: result.requestId,
      invocationType: opts.invocationType ?? 'RequestResponse',
      start: result.start,
      timestamp,
      durationMs: result.durationMs,
      billedDurationMs: result.billedDurationMs,
      memoryMB: spec.memoryMB,
      maxMemoryUsedMB: result.maxMemoryUsedMB,
      initDurationMs: result.initDurationMs,
      errorType: result.functionError ? (result.errorType ?? 'Unhandled') : undefined,
      log: result.log,
      ...(result.recycled !== undefined && { recycled: result.recycled }),
      ...(result.logStreamName !== undefined && { logStreamName: result.logStreamName }),
    };
    this.#observe(record);
    return { ...result, functionArn: spec.functionArn, executedVersion: spec.version };
  }

  /**
   * Observers (metrics, stored logs, billing) see each record once the answer is on its way: in an
   * Immediate after this I/O turn, one for every record of the turn, so their work is off the request's
   * path. A request that reads logs or metrics arrives in a later turn and still sees every earlier record.
   */
  #observe(record: InvocationRecord): void {
    this.#observing.push(record);
    if (this.#observing.length === 1) setImmediate(this.#notifyObservers);
  }

  readonly #notifyObservers = (): void => {
    const records = this.#observing;
    this.#observing = [];
    for (const record of records) {
      for (const o of this.#observers) {
        try {
          o.onInvocation(record);
        } catch (e) {
          console.error('kindling: invocation observer failed:', e);
        }
      }
    }
  };

  #throttled(tenantId: string, arn: string): void {
    for (const o of this.#observers) {
      try {
        o.onThrottle?.(tenantId, arn);
      } catch (e) {
        console.error('kindling: invocation observer failed:', e);
      }
    }
  }

  /** Warm: no store read (the spec is kept per versionKey); cold: reads the tenant's network grant once. */
  #prepare(rec: FunctionRecord): PreparedVersion | Promise<PreparedVersion> {
    const id = rec.version === LATEST ? rec.id : `${rec.id}:${rec.version}`;
    const p = this.#prepared.get(id);
    if (p === undefined || p.versionKey !== rec.versionKey) return this.#prepareNew(rec, id);
    if (p.tags !== rec.tags || p.spec.reservedConcurrency !== (rec.reservedConcurrency ?? undefined)) {
      // A record newer than the change notice that would have refreshed it (no work on the warm path).
      refresh(p, rec);
    }
    return p;
  }

  /** A version not prepared yet (or changed): one spec per version, however many requests meet it at once. */
  #prepareNew(rec: FunctionRecord, id: string): Promise<PreparedVersion> {
    const key = `${rec.id}\0${rec.versionKey}`;
    let building = this.#preparing.get(key);
    if (building === undefined) {
      building = this.#specOf(rec).then((spec) => {
        const made: PreparedVersion = {
          versionKey: rec.versionKey,
          ...(spec.volume !== undefined && { accessPointId: spec.volume.accessPointId }),
          spec,
          tags: rec.tags,
          credentialsExpireAt: 0,
        };
        this.#prepared.set(id, made);
        return made;
      });
      this.#preparing.set(key, building);
      void building.then(
        () => this.#preparing.delete(key),
        () => this.#preparing.delete(key),
      );
    }
    return building;
  }

  /** A new function's spec and credentials, prepared ahead; a failure only leaves them to its first request. */
  async #ready(rec: FunctionRecord): Promise<void> {
    try {
      await this.#credentials(await this.#prepare(rec), rec.tenantId);
    } catch {
      // The first request prepares them again and reports what fails.
    }
  }

  /** Minted once per versionKey and reused until half their lifetime is gone: no DB write per invoke. */
  #credentials(
    p: PreparedVersion,
    tenantId: string,
  ): InvokeOptions['credentials'] | Promise<InvokeOptions['credentials']> {
    const now = Date.now();
    if (p.credentials && p.credentialsExpireAt - now >= CREDENTIALS_TTL_MS / 2) return p.credentials;
    p.minting ??= (async () => {
      try {
        const key = await this.#tenants.createSessionKey(tenantId, CREDENTIALS_TTL_MS);
        p.credentials = {
          accessKeyId: key.accessKeyId,
          secretAccessKey: key.secretAccessKey,
          sessionToken: key.sessionToken ?? '',
        };
        p.credentialsExpireAt = key.expiresAt ?? now + CREDENTIALS_TTL_MS;
        return p.credentials;
      } finally {
        p.minting = undefined;
      }
    })();
    return p.minting;
  }

  /** The access point a version mounts, resolved (its directory made) on its first cold start here. */
  async #volumeOf(rec: FunctionRecord): Promise<(SandboxVolume & { accessPointId: string }) | undefined> {
    const c = rec.fileSystemConfigs?.[0];
    if (c === undefined) return undefined;
    if (this.#volumes === undefined) throw mountFailure('this server has no volumes');
    try {
      return await this.#volumes.mountFor(
        { id: rec.tenantId, accountId: rec.accountId },
        c.arn,
        c.localMountPath,
      );
    } catch (e) {
      throw mountFailure((e as Error).message);
    }
  }

  async #specOf(rec: FunctionRecord): Promise<FunctionVersionSpec & { volume?: { accessPointId: string } }> {
    // Read from the store, not from the caller's Tenant object: async and event paths may hold an old one.
    const grant = await this.#tenants.get(rec.tenantId);
    const volume = await this.#volumeOf(rec);
    return {
      tenantId: rec.tenantId,
      accountId: rec.accountId,
      functionName: rec.name,
      functionArn: rec.arn,
      version: rec.version,
      versionKey: rec.versionKey,
      runtime: rec.runtime,
      handler: rec.handler,
      memoryMB: rec.memorySize,
      timeoutSec: rec.timeout,
      environment: rec.environment,
      codeDir: this.#functions.code.codeDir(rec.codeDigest),
      // Merged once per layer set on this node; a function without layers pays nothing.
      ...(rec.layers?.length && {
        layersDir: await this.#functions.code.ensureLayerSet(rec.layers.map((l) => l.digest)),
      }),
      ephemeralStorageMB: rec.ephemeralStorage,
      networkOutbound: grant?.networkOutbound === true,
      egressAllow: grant?.networkOutbound === true ? grant.egressAllow : [],
      reservedConcurrency: rec.reservedConcurrency ?? undefined,
      ...(volume !== undefined && { volume }),
      ...lifecycleOf(rec.tags),
    };
  }
}

/** Reservation and tags changed, the version did not: same environments, the spec's reservation and lifecycle anew. */
function refresh(p: PreparedVersion, rec: FunctionRecord): void {
  p.tags = rec.tags;
  p.spec = { ...p.spec, reservedConcurrency: rec.reservedConcurrency ?? undefined, ...lifecycleOf(rec.tags) };
}
