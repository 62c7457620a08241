// The function store: each tenant's functions ($LATEST), their configuration, code reference, tags and
// reserved concurrency, in the store (SQLite or PostgreSQL). Every write is one transaction that locks the
// function's row and checks its revision in the UPDATE, so writes from several nodes take turns in the
// database. Reads are cached per node (the invoke hot path); a write drops this node's copy and tells the
// other nodes, whose listeners then see the change too (`remote`).
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isNotFound, LambdaErrors } from '../errors.js';
import type { Sql, SqlExecutor } from '../store/sql.js';
import type { CodeStore, StoredCode } from './code-store.js';
import { ControlChannel, InvalidatedCache, type ReceivedChange } from './control-changes.js';
import { type FunctionRef, functionArn } from './function-names.js';
import {
  checkEnvironment,
  checkRuntime,
  checkTags,
  FunctionErrors,
  LATEST,
  lambdaTimestamp,
  type Runtime,
  startsExtensions,
} from './function-rules.js';
import { FunctionRepo, type FunctionRow as Row } from './functions-repo.js';
import { type FunctionLayer, LayerErrors } from './layers.js';
import type { Tenant } from './tenants.js';

export {
  checkEnvironment,
  checkRuntime,
  checkTags,
  ENV_LIMIT_BYTES,
  type EnvironmentLifecycle,
  FunctionErrors,
  isSingleUse,
  LATEST,
  lambdaTimestamp,
  lifecycleOf,
  NETWORK_TAG,
  RECYCLE_AFTER_TAG,
  RECYCLE_MEMORY_TAG,
  type Runtime,
  refuseNetworkTag,
  SINGLE_USE_TAG,
  SUPPORTED_RUNTIMES,
} from './function-rules.js';

/** The mutable part of a function's configuration (UpdateFunctionConfiguration's fields). */
export interface FunctionConfig {
  runtime: Runtime;
  handler: string;
  memorySize: number;
  timeout: number;
  environment: Record<string, string>;
  description: string;
  role: string;
  ephemeralStorage: number;
  deadLetterTargetArn: string | undefined;
  /** Its layers in order (Layers), merged under /opt; absent when none. */
  layers?: FunctionLayer[];
  /** Its shared volume (FileSystemConfigs: an access point ARN and /mnt/NAME); absent when none. */
  fileSystemConfigs?: Array<{ arn: string; localMountPath: string }>;
}

export interface FunctionRecord extends FunctionConfig {
  id: string;
  tenantId: string;
  accountId: string;
  name: string;
  arn: string;
  codeDigest: string;
  codeSha256: string;
  codeSize: number;
  tags: Record<string, string>;
  reservedConcurrency: number | null;
  revisionId: string;
  /** Changes on every code or configuration change: environments are bound to one key. */
  versionKey: string;
  /** Lambda's format: 2024-01-31T12:00:00.000+0000. */
  lastModified: string;
  /** '$LATEST' or a published version's number. */
  version: string;
  /** What the caller named it by when not $LATEST: the version number or an alias (control/versions.ts). */
  qualifier?: string;
  /** An alias's second version and the share of requests it gets. */
  routing?: { weight: number; record: FunctionRecord };
}

/** `remote`: the change was made through another node (its own listeners already did the durable work). */
export type FunctionChange = (
  | { kind: 'created'; record: FunctionRecord }
  | { kind: 'updated'; record: FunctionRecord; previous: FunctionRecord }
  | { kind: 'deleted'; record: FunctionRecord }
) & { remote?: boolean };

export interface CreateFunctionInput extends Partial<FunctionConfig> {
  name: string;
  runtime: Runtime;
  handler: string;
  zip: Buffer;
  tags?: Record<string, string>;
}

export interface ListPage {
  functions: FunctionRecord[];
  nextMarker?: string;
}

export interface FunctionStoreOptions {
  sql: Sql;
  code: CodeStore;
  region: string;
}

const cacheKey = (tenantId: string, name: string) => `${tenantId}\0${name}`;

export class FunctionStore {
  readonly #repo: FunctionRepo;
  readonly #channel: ControlChannel;
  readonly #code: CodeStore;
  readonly #region: string;
  readonly #cache = new InvalidatedCache<FunctionRecord>();
  /** The last record this node read of each function: what a change from another node is compared with. */
  readonly #handedOut = new Map<string, FunctionRecord>();
  readonly #listeners: ((change: FunctionChange) => void)[] = [];

  private constructor(repo: FunctionRepo, opts: FunctionStoreOptions) {
    this.#repo = repo;
    this.#channel = new ControlChannel(opts.sql);
    this.#code = opts.code;
    this.#region = opts.region;
  }

  /** Migrates the functions table and subscribes to other nodes' changes. */
  static async open(opts: FunctionStoreOptions): Promise<FunctionStore> {
    const store = new FunctionStore(await FunctionRepo.open(opts.sql), opts);
    await store.#channel.subscribe((change) => store.#received(change));
    return store;
  }

  get region(): string {
    return this.#region;
  }

  get code(): CodeStore {
    return this.#code;
  }

  /** Called after every committed change (retiring environments, dropping derived caches). */
  onChange(listener: (change: FunctionChange) => void): void {
    this.#listeners.push(listener);
  }

  arnOf(tenant: Pick<Tenant, 'accountId'>, name: string): string {
    return functionArn(this.#region, tenant.accountId, name);
  }

  /** A tenant's function by name; undefined when it has none of that name. Served from memory when warm. */
  get(tenantId: string, name: string): Promise<FunctionRecord | undefined> {
    const key = cacheKey(tenantId, name);
    return this.#cache.load(key, async () => {
      const before = this.#handedOut.get(key);
      const row = await this.#repo.byName(tenantId, name);
      const record = row && this.#toRecord(row);
      if (before !== undefined && this.#handedOut.get(key) === before && !this.#writing.has(key)) {
        // What this node handed out changed elsewhere and no notice of it has come (one drops the record
        // first; a read meanwhile would have replaced it): late, or lost with a LISTEN connection that came
        // back (which clears the cache, not this). Listeners hear it now; the notice, if it comes, compares
        // against this read and finds nothing new.
        this.#announce(before, record);
        if (!record) this.#handedOut.delete(key);
      }
      // Remembered even when the cache refuses the fill (a change raced the read): this node handed the
      // record out, so its listeners must hear when another node changes or deletes it.
      if (record) this.#handedOut.set(key, record);
      return record;
    });
  }

  /**
   * Resolves a parsed name/ARN for the calling tenant. An ARN of another account or region never
   * reaches the table: other tenants' functions are invisible, so it is simply not found.
   */
  async resolve(tenant: Tenant, ref: FunctionRef): Promise<FunctionRecord> {
    const rec =
      (ref.accountId === undefined || ref.accountId === tenant.accountId) &&
      (ref.region === undefined || ref.region === this.#region)
        ? await this.get(tenant.id, ref.name)
        : undefined;
    if (!rec) {
      const arn = functionArn(ref.region ?? this.#region, ref.accountId ?? tenant.accountId, ref.name);
      throw LambdaErrors.functionNotFound(ref.qualifier ? `${arn}:${ref.qualifier}` : arn);
    }
    return rec;
  }

  /** Lambda's name order; the marker is an opaque token for the last name returned. */
  async list(tenantId: string, opts: { marker?: string; maxItems?: number } = {}): Promise<ListPage> {
    const max = opts.maxItems ?? 50;
    let after = '';
    if (opts.marker) {
      after = Buffer.from(opts.marker, 'base64url').toString('utf8');
      if (!after) throw LambdaErrors.invalidParameter('Invalid Marker');
    }
    const rows = await this.#repo.page(tenantId, after, max + 1);
    const page = rows.slice(0, max).map((r) => this.#toRecord(r));
    const last = page[page.length - 1];
    return {
      functions: page,
      nextMarker:
        rows.length > max && last ? Buffer.from(last.name, 'utf8').toString('base64url') : undefined,
    };
  }

  count(tenantId: string): Promise<{ functions: number; codeSize: number; reserved: number }> {
    return this.#repo.totals(tenantId);
  }

  /** Digests referenced by any function (the code store keeps these at start). */
  referencedDigests(): Promise<Set<string>> {
    return this.#repo.digests();
  }

  async create(tenant: Tenant, input: CreateFunctionInput): Promise<FunctionRecord> {
    const config: FunctionConfig = {
      runtime: input.runtime,
      handler: input.handler,
      memorySize: input.memorySize ?? 128,
      timeout: input.timeout ?? 3,
      environment: input.environment ?? {},
      description: input.description ?? '',
      role: input.role ?? `arn:aws:iam::${tenant.accountId}:role/kindling-function`,
      ephemeralStorage: input.ephemeralStorage ?? 512,
      deadLetterTargetArn: input.deadLetterTargetArn,
      ...(input.layers?.length ? { layers: input.layers } : {}),
      ...(input.fileSystemConfigs?.length ? { fileSystemConfigs: input.fileSystemConfigs } : {}),
    };
    checkRuntime(config.runtime);
    checkEnvironment(config.environment);
    checkTags(input.tags);
    await this.#checkExtensions(config.runtime, config.layers);
    // Cheap early answer; the UNIQUE constraint below is what decides between nodes.
    if (await this.#repo.byName(tenant.id, input.name)) throw FunctionErrors.exists(input.name);
    const code = await this.#code.put(input.zip);
    try {
      await this.#checkSize(code.digest, config.layers);
      const row: Row = {
        id: randomUUID(),
        tenant_id: tenant.id,
        account_id: tenant.accountId,
        name: input.name,
        config: JSON.stringify(config),
        code_digest: code.digest,
        code_sha256: code.sha256,
        code_size: code.size,
        tags: JSON.stringify(input.tags ?? {}),
        reserved_concurrency: null,
        revision_id: randomUUID(),
        version_key: randomUUID(),
        last_modified: lambdaTimestamp(),
      };
      await this.#writingTo(tenant.id, input.name, async () => {
        if (!(await this.#repo.insert(row))) throw FunctionErrors.exists(input.name);
        await this.#changed(tenant.id, input.name);
      });
      const rec = this.#toRecord(row);
      this.#emit({ kind: 'created', record: rec });
      return rec;
    } finally {
      this.#code.release(code.digest);
      await this.#collect(code.digest);
    }
  }

  async updateCode(
    tenant: Tenant,
    name: string,
    zip: Buffer,
    opts: { revisionId?: string } = {},
  ): Promise<FunctionRecord> {
    const layers = await this.#require(tenant, name, opts.revisionId);
    const code: StoredCode = await this.#code.put(zip);
    try {
      await this.#checkSize(code.digest, layers);
      return await this.#update(tenant, name, opts.revisionId, async (cur) => ({
        code_digest: code.digest,
        code_sha256: code.sha256,
        code_size: code.size,
        revision_id: randomUUID(),
        version_key: randomUUID(),
        last_modified: lambdaTimestamp(),
        config: JSON.stringify(this.#configOf(cur)),
      }));
    } finally {
      this.#code.release(code.digest);
      await this.#collect(code.digest);
    }
  }

  async updateConfiguration(
    tenant: Tenant,
    name: string,
    patch: Partial<FunctionConfig>,
    opts: { revisionId?: string } = {},
  ): Promise<FunctionRecord> {
    if (patch.runtime !== undefined) checkRuntime(patch.runtime);
    if (patch.environment) checkEnvironment(patch.environment);
    if (patch.layers?.length || patch.runtime !== undefined) {
      const cur = await this.#repo.byName(tenant.id, name);
      if (cur) {
        if (patch.layers?.length) await this.#checkSize(cur.code_digest, patch.layers);
        const config = this.#configOf(cur);
        await this.#checkExtensions(patch.runtime ?? config.runtime, patch.layers ?? config.layers);
      }
    }
    return this.#update(tenant, name, opts.revisionId, async (cur) => {
      const next: FunctionConfig = { ...this.#configOf(cur) };
      for (const [k, v] of Object.entries(patch) as [keyof FunctionConfig, unknown][]) {
        if (v !== undefined) (next as unknown as Record<string, unknown>)[k] = v;
      }
      // An empty DeadLetterConfig.TargetArn removes it, as on Lambda.
      if (patch.deadLetterTargetArn === '') next.deadLetterTargetArn = undefined;
      // An empty Layers list removes them.
      if (next.layers?.length === 0) delete next.layers;
      if (next.fileSystemConfigs?.length === 0) delete next.fileSystemConfigs;
      return {
        config: JSON.stringify(next),
        revision_id: randomUUID(),
        version_key: randomUUID(),
        last_modified: lambdaTimestamp(),
      };
    });
  }

  /**
   * Null removes the reservation. The sum over a tenant's functions may not exceed its limit: the
   * tenant's row is locked while it is summed, so two nodes reserving at once cannot both pass.
   */
  async setReservedConcurrency(
    tenant: Tenant,
    name: string,
    value: number | null,
    tenantLimit: number,
  ): Promise<FunctionRecord> {
    return this.#update(
      tenant,
      name,
      undefined,
      async (cur, q) => {
        if (value !== null) {
          if ((await this.#repo.reservedByOthers(q, tenant.id, cur.id)) + value > tenantLimit)
            throw FunctionErrors.reservedTooHigh(tenantLimit);
        }
        return { reserved_concurrency: value };
      },
      { lockTenant: true },
    );
  }

  async tag(tenant: Tenant, name: string, tags: Record<string, string>): Promise<FunctionRecord> {
    checkTags(tags);
    return this.#update(tenant, name, undefined, async (cur) =>
      this.#tagChange(cur, { ...JSON.parse(cur.tags), ...tags }),
    );
  }

  async untag(tenant: Tenant, name: string, keys: string[]): Promise<FunctionRecord> {
    return this.#update(tenant, name, undefined, async (cur) => {
      const next: Record<string, string> = JSON.parse(cur.tags);
      for (const k of keys) delete next[k];
      return this.#tagChange(cur, next);
    });
  }

  async delete(tenant: Tenant, name: string): Promise<FunctionRecord> {
    return this.#writingTo(tenant.id, name, () => this.#delete(tenant, name));
  }

  async #delete(tenant: Tenant, name: string): Promise<FunctionRecord> {
    const removed = await this.#repo.transaction(async (q) => {
      const row = await this.#repo.lockByName(q, tenant.id, name);
      if (!row) throw LambdaErrors.functionNotFound(this.arnOf(tenant, name));
      // Its versions and aliases go with it (ON DELETE CASCADE); so may the code only they used.
      const digests = new Set([row.code_digest, ...(await this.#repo.versionDigests(q, row.id))]);
      if (!(await this.#repo.delete(q, row.id)))
        throw LambdaErrors.functionNotFound(this.arnOf(tenant, name));
      const unused: string[] = [];
      for (const d of digests) if ((await this.#repo.codeUsers(d, q)) === 0) unused.push(d);
      return { row, unused };
    });
    await this.#changed(tenant.id, name);
    for (const d of removed.unused) this.#code.removeBlob(d);
    const rec = this.#toRecord(removed.row);
    this.#emit({ kind: 'deleted', record: rec });
    return rec;
  }

  /** Deletes every function of a tenant (the tenant is being deleted): environments retire, unused code goes. */
  async deleteAll(tenant: Tenant): Promise<void> {
    for (const name of await this.#repo.names(tenant.id)) {
      try {
        await this.delete(tenant, name);
      } catch (e) {
        // Deleted meanwhile through another node: nothing left to do for it.
        if (!isNotFound(e)) throw e;
      }
    }
  }

  /** Tags do not change what an environment is built with: same versionKey, same environments. */
  #tagChange(_cur: Row, next: Record<string, string>): Partial<Row> {
    return { tags: JSON.stringify(next) };
  }

  /** The function exists at this revision; answers its layers. */
  async #require(
    tenant: Tenant,
    name: string,
    revisionId: string | undefined,
  ): Promise<FunctionLayer[] | undefined> {
    const row = await this.#repo.byName(tenant.id, name);
    if (!row) throw LambdaErrors.functionNotFound(this.arnOf(tenant, name));
    if (revisionId !== undefined && revisionId !== row.revision_id) throw LambdaErrors.preconditionFailed();
    return this.#configOf(row).layers;
  }

  /** A layer with extensions on a runtime that does not start them is refused, never silently inert. */
  async #checkExtensions(runtime: string, layers: readonly FunctionLayer[] | undefined): Promise<void> {
    if (!layers?.length || startsExtensions(runtime)) return;
    for (const l of layers) {
      const dir = path.join(await this.#code.ensureCodeDir(l.digest), 'extensions');
      if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0)
        throw LayerErrors.extensionsUnsupported(l.arn, runtime);
    }
  }

  /** Lambda's 250 MB unzipped limit holds for the function's code and its layers together. */
  async #checkSize(digest: string, layers: readonly FunctionLayer[] | undefined): Promise<void> {
    if (!layers?.length) return;
    const limit = this.#code.maxUnzippedBytes;
    const total = layers.reduce((n, l) => n + l.unzippedSize, await this.#code.unzippedSize(digest));
    if (total > limit) throw LayerErrors.tooLarge(limit, total);
  }

  /**
   * Read-modify-write of one function in a single transaction: the row is locked (other nodes' writers
   * wait) and the UPDATE names the revision it read, so no change is overwritten unseen.
   */
  async #update(
    tenant: Tenant,
    name: string,
    revisionId: string | undefined,
    change: (cur: Row, q: SqlExecutor) => Promise<Partial<Row>>,
    opts: { lockTenant?: boolean } = {},
  ): Promise<FunctionRecord> {
    return this.#writingTo(tenant.id, name, () => this.#updateRow(tenant, name, revisionId, change, opts));
  }

  async #updateRow(
    tenant: Tenant,
    name: string,
    revisionId: string | undefined,
    change: (cur: Row, q: SqlExecutor) => Promise<Partial<Row>>,
    opts: { lockTenant?: boolean },
  ): Promise<FunctionRecord> {
    const { before, after, freed } = await this.#repo.transaction(async (q) => {
      if (opts.lockTenant) await this.#repo.lockTenant(q, tenant.id);
      const cur = await this.#repo.lockByName(q, tenant.id, name);
      if (!cur) throw LambdaErrors.functionNotFound(this.arnOf(tenant, name));
      if (revisionId !== undefined && revisionId !== cur.revision_id) throw LambdaErrors.preconditionFailed();
      const next: Row = { ...cur, ...(await change(cur, q)) };
      if (!(await this.#repo.update(q, next, cur.revision_id))) throw LambdaErrors.preconditionFailed();
      let freedDigest: string | undefined;
      if (next.code_digest !== cur.code_digest && (await this.#repo.codeUsers(cur.code_digest, q)) === 0)
        freedDigest = cur.code_digest;
      return { before: cur, after: next, freed: freedDigest };
    });
    await this.#changed(tenant.id, name);
    if (freed) this.#code.removeBlob(freed);
    const rec = this.#toRecord(after);
    this.#emit({ kind: 'updated', record: rec, previous: this.#toRecord(before) });
    return rec;
  }

  /** Removes a blob nothing references (a refused or lost write leaves none behind). */
  async #collect(digest: string): Promise<void> {
    if ((await this.#repo.codeUsers(digest)) === 0) this.#code.removeBlob(digest);
  }

  /** Remote changes being read, per function: the next change to it compares against this one's result. */
  readonly #remoteReads = new Map<string, Promise<FunctionRecord | undefined>>();
  /** Writes through this node in progress, per function (#writingTo). */
  readonly #writing = new Map<string, number>();

  /** A version or alias of the function changed (control/versions.ts): every node drops what it resolved. */
  changed(tenantId: string, name: string): Promise<void> {
    return this.#changed(tenantId, name);
  }

  /** Drops this node's copy, then tells the other nodes. */
  async #changed(tenantId: string, name: string): Promise<void> {
    this.#cache.delete(cacheKey(tenantId, name));
    this.#handedOut.delete(cacheKey(tenantId, name));
    await this.#channel.publish({ kind: 'function', tenantId, name });
  }

  /**
   * Another node changed a function: drop the copy, and tell listeners what this node had seen. Changes to
   * one function are handled in arrival order, each comparing against what the one before it read: a
   * delete that lands while an earlier change is still being read is not lost.
   */
  #received(change: ReceivedChange): void {
    if (change.own) return;
    if (change.kind === 'all') {
      this.#cache.clear();
      return;
    }
    if (change.kind !== 'function') return;
    const key = cacheKey(change.tenantId, change.name);
    const prior = this.#remoteReads.get(key);
    const peeked = this.#cache.peek(key) ?? this.#handedOut.get(key);
    this.#cache.delete(key);
    this.#handedOut.delete(key);
    if (prior === undefined && !peeked) return;
    const read: Promise<FunctionRecord | undefined> = (async () => {
      const previous = prior !== undefined ? await prior : peeked;
      if (!previous) return undefined;
      const record = await this.get(change.tenantId, change.name);
      this.#announce(previous, record);
      return record;
    })().catch((e: unknown) => {
      console.error('kindling: reading a function changed on another node failed:', e);
      return undefined;
    });
    this.#remoteReads.set(key, read);
    void read.finally(() => {
      if (this.#remoteReads.get(key) === read) this.#remoteReads.delete(key);
    });
  }

  /** Tells listeners how a function this node handed out (`previous`) differs from its row now. */
  #announce(previous: FunctionRecord, record: FunctionRecord | undefined): void {
    if (!record) this.#emit({ kind: 'deleted', record: previous, remote: true });
    else if (record.id !== previous.id) {
      this.#emit({ kind: 'deleted', record: previous, remote: true });
      this.#emit({ kind: 'created', record, remote: true });
    } else if (record.revisionId !== previous.revisionId)
      this.#emit({ kind: 'updated', record, previous, remote: true });
    // Same revision: the notice was of a write this node had already read (a create it then fetched).
  }

  /**
   * A write through this node, from before its commit until its copies are dropped: a read in between
   * sees the new row while the old one is still remembered, and must not announce it as another node's
   * (the write emits its own change).
   */
  async #writingTo<T>(tenantId: string, name: string, write: () => Promise<T>): Promise<T> {
    const key = cacheKey(tenantId, name);
    this.#writing.set(key, (this.#writing.get(key) ?? 0) + 1);
    try {
      return await write();
    } finally {
      const left = (this.#writing.get(key) ?? 1) - 1;
      if (left === 0) this.#writing.delete(key);
      else this.#writing.set(key, left);
    }
  }

  #emit(change: FunctionChange): void {
    for (const l of this.#listeners) {
      try {
        l(change);
      } catch (e) {
        // A listener's failure must not undo or hide a committed change.
        console.error('kindling: function change listener failed:', e);
      }
    }
  }

  #configOf(row: Row): FunctionConfig {
    return JSON.parse(row.config) as FunctionConfig;
  }

  #toRecord(row: Row): FunctionRecord {
    return toFunctionRecord(row, this.#region);
  }
}

/** Records are shared from the cache with every reader: frozen, so no reader can change another's view. */
export function toFunctionRecord(row: Row, region: string): FunctionRecord {
  const config = JSON.parse(row.config) as FunctionConfig;
  Object.freeze(config.environment);
  if (config.layers) Object.freeze(config.layers);
  return Object.freeze({
    ...config,
    id: row.id,
    tenantId: row.tenant_id,
    accountId: row.account_id,
    name: row.name,
    arn: functionArn(region, row.account_id, row.name),
    codeDigest: row.code_digest,
    codeSha256: row.code_sha256,
    codeSize: row.code_size,
    tags: Object.freeze(JSON.parse(row.tags) as Record<string, string>),
    reservedConcurrency: row.reserved_concurrency,
    revisionId: row.revision_id,
    versionKey: row.version_key,
    lastModified: row.last_modified,
    version: LATEST,
  });
}
