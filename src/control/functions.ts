// The function store: each tenant's functions ($LATEST), their configuration, code reference, tags and
// reserved concurrency, persisted in SQLite. Every write is one transaction; reads are cached in memory
// (the invoke hot path) and the cache is dropped on each write, which only this class performs.
import { randomUUID } from 'node:crypto';
import { LambdaErrors } from '../errors.js';
import type { Db } from '../store/database.js';
import type { CodeStore, StoredCode } from './code-store.js';
import { type FunctionRef, functionArn } from './function-names.js';
import {
  checkEnvironment,
  FunctionErrors,
  lambdaTimestamp,
  type Runtime,
  refuseNetworkTag,
} from './function-rules.js';
import { type FunctionRow as Row, SqliteFunctionRepo } from './functions-repo.js';
import type { Tenant } from './tenants.js';

export {
  checkEnvironment,
  ENV_LIMIT_BYTES,
  FunctionErrors,
  LATEST,
  lambdaTimestamp,
  NETWORK_TAG,
  type Runtime,
  refuseNetworkTag,
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
}

export type FunctionChange =
  | { kind: 'created'; record: FunctionRecord }
  | { kind: 'updated'; record: FunctionRecord; previous: FunctionRecord }
  | { kind: 'deleted'; record: FunctionRecord };

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
  db: Db;
  code: CodeStore;
  region: string;
}

export class FunctionStore {
  readonly #repo: SqliteFunctionRepo;
  readonly #code: CodeStore;
  readonly #region: string;
  readonly #cache = new Map<string, FunctionRecord>();
  readonly #listeners: ((change: FunctionChange) => void)[] = [];

  constructor(opts: FunctionStoreOptions) {
    this.#repo = new SqliteFunctionRepo(opts.db);
    this.#code = opts.code;
    this.#region = opts.region;
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
  get(tenantId: string, name: string): FunctionRecord | undefined {
    const key = `${tenantId}\0${name}`;
    const hit = this.#cache.get(key);
    if (hit) return hit;
    const row = this.#repo.byName(tenantId, name);
    if (!row) return undefined;
    const rec = this.#toRecord(row);
    this.#cache.set(key, rec);
    return rec;
  }

  /**
   * Resolves a parsed name/ARN for the calling tenant. An ARN of another account or region never
   * reaches the table: other tenants' functions are invisible, so it is simply not found.
   */
  resolve(tenant: Tenant, ref: FunctionRef): FunctionRecord {
    const rec =
      (ref.accountId === undefined || ref.accountId === tenant.accountId) &&
      (ref.region === undefined || ref.region === this.#region)
        ? this.get(tenant.id, ref.name)
        : undefined;
    if (!rec) {
      const arn = functionArn(ref.region ?? this.#region, ref.accountId ?? tenant.accountId, ref.name);
      throw LambdaErrors.functionNotFound(ref.qualifier ? `${arn}:${ref.qualifier}` : arn);
    }
    return rec;
  }

  /** Lambda's name order; the marker is an opaque token for the last name returned. */
  list(tenantId: string, opts: { marker?: string; maxItems?: number } = {}): ListPage {
    const max = opts.maxItems ?? 50;
    let after = '';
    if (opts.marker) {
      after = Buffer.from(opts.marker, 'base64url').toString('utf8');
      if (!after) throw LambdaErrors.invalidParameter('Invalid Marker');
    }
    const rows = this.#repo.page(tenantId, after, max + 1);
    const page = rows.slice(0, max).map((r) => this.#toRecord(r));
    const last = page[page.length - 1];
    return {
      functions: page,
      nextMarker:
        rows.length > max && last ? Buffer.from(last.name, 'utf8').toString('base64url') : undefined,
    };
  }

  count(tenantId: string): { functions: number; codeSize: number; reserved: number } {
    return this.#repo.totals(tenantId);
  }

  /** Digests referenced by any function (the code store keeps these at start). */
  referencedDigests(): Set<string> {
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
    };
    checkEnvironment(config.environment);
    refuseNetworkTag(input.tags);
    // Cheap early answer; the UNIQUE constraint below is what decides under concurrency.
    if (this.get(tenant.id, input.name)) throw FunctionErrors.exists(input.name);
    const code = await this.#code.put(input.zip);
    try {
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
      if (!this.#repo.insert(row)) throw FunctionErrors.exists(input.name);
      const rec = this.#toRecord(row);
      this.#emit({ kind: 'created', record: rec });
      return rec;
    } finally {
      this.#code.release(code.digest);
      this.#collect(code.digest);
    }
  }

  async updateCode(
    tenant: Tenant,
    name: string,
    zip: Buffer,
    opts: { revisionId?: string } = {},
  ): Promise<FunctionRecord> {
    this.#require(tenant, name, opts.revisionId);
    const code: StoredCode = await this.#code.put(zip);
    try {
      return this.#update(tenant, name, opts.revisionId, (cur) => ({
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
      this.#collect(code.digest);
    }
  }

  updateConfiguration(
    tenant: Tenant,
    name: string,
    patch: Partial<FunctionConfig>,
    opts: { revisionId?: string } = {},
  ): FunctionRecord {
    if (patch.environment) checkEnvironment(patch.environment);
    return this.#update(tenant, name, opts.revisionId, (cur) => {
      const next: FunctionConfig = { ...this.#configOf(cur) };
      for (const [k, v] of Object.entries(patch) as [keyof FunctionConfig, unknown][]) {
        if (v !== undefined) (next as unknown as Record<string, unknown>)[k] = v;
      }
      // An empty DeadLetterConfig.TargetArn removes it, as on Lambda.
      if (patch.deadLetterTargetArn === '') next.deadLetterTargetArn = undefined;
      return {
        config: JSON.stringify(next),
        revision_id: randomUUID(),
        version_key: randomUUID(),
        last_modified: lambdaTimestamp(),
      };
    });
  }

  /** Null removes the reservation. The sum over a tenant's functions may not exceed its limit. */
  setReservedConcurrency(
    tenant: Tenant,
    name: string,
    value: number | null,
    tenantLimit: number,
  ): FunctionRecord {
    return this.#update(tenant, name, undefined, (cur) => {
      if (value !== null) {
        if (this.#repo.reservedByOthers(tenant.id, cur.id) + value > tenantLimit)
          throw FunctionErrors.reservedTooHigh(tenantLimit);
      }
      return { reserved_concurrency: value };
    });
  }

  tag(tenant: Tenant, name: string, tags: Record<string, string>): FunctionRecord {
    refuseNetworkTag(tags);
    return this.#update(tenant, name, undefined, (cur) =>
      this.#tagChange(cur, { ...JSON.parse(cur.tags), ...tags }),
    );
  }

  untag(tenant: Tenant, name: string, keys: string[]): FunctionRecord {
    return this.#update(tenant, name, undefined, (cur) => {
      const next: Record<string, string> = JSON.parse(cur.tags);
      for (const k of keys) delete next[k];
      return this.#tagChange(cur, next);
    });
  }

  delete(tenant: Tenant, name: string): FunctionRecord {
    const removed = this.#repo.transaction(() => {
      const row = this.#repo.byName(tenant.id, name);
      if (!row) throw LambdaErrors.functionNotFound(this.arnOf(tenant, name));
      this.#repo.delete(row.id);
      return { row, unused: this.#repo.codeUsers(row.code_digest) === 0 };
    });
    this.#cache.delete(`${tenant.id}\0${name}`);
    if (removed.unused) this.#code.removeBlob(removed.row.code_digest);
    const rec = this.#toRecord(removed.row);
    this.#emit({ kind: 'deleted', record: rec });
    return rec;
  }

  /** Deletes every function of a tenant (the tenant is being deleted): environments retire, unused code goes. */
  deleteAll(tenant: Tenant): void {
    for (const name of this.#repo.names(tenant.id)) this.delete(tenant, name);
  }

  /** Tags do not change what an environment is built with: same versionKey, same environments. */
  #tagChange(_cur: Row, next: Record<string, string>): Partial<Row> {
    return { tags: JSON.stringify(next) };
  }

  #require(tenant: Tenant, name: string, revisionId: string | undefined): void {
    const rec = this.get(tenant.id, name);
    if (!rec) throw LambdaErrors.functionNotFound(this.arnOf(tenant, name));
    if (revisionId !== undefined && revisionId !== rec.revisionId) throw LambdaErrors.preconditionFailed();
  }

  /** Read-modify-write of one function in a single transaction (synchronous, so nothing interleaves). */
  #update(
    tenant: Tenant,
    name: string,
    revisionId: string | undefined,
    change: (cur: Row) => Partial<Row>,
  ): FunctionRecord {
    const { before, after, freed } = this.#repo.transaction(() => {
      const cur = this.#repo.byName(tenant.id, name);
      if (!cur) throw LambdaErrors.functionNotFound(this.arnOf(tenant, name));
      if (revisionId !== undefined && revisionId !== cur.revision_id) throw LambdaErrors.preconditionFailed();
      const next: Row = { ...cur, ...change(cur) };
      this.#repo.update(next);
      let freedDigest: string | undefined;
      if (next.code_digest !== cur.code_digest && this.#repo.codeUsers(cur.code_digest) === 0)
        freedDigest = cur.code_digest;
      return { before: cur, after: next, freed: freedDigest };
    });
    this.#cache.delete(`${tenant.id}\0${name}`);
    if (freed) this.#code.removeBlob(freed);
    const rec = this.#toRecord(after);
    this.#emit({ kind: 'updated', record: rec, previous: this.#toRecord(before) });
    return rec;
  }

  /** Removes a blob nothing references (a refused or lost write leaves none behind). */
  #collect(digest: string): void {
    if (this.#repo.codeUsers(digest) === 0) this.#code.removeBlob(digest);
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

  /** Records are shared from the cache with every reader: frozen, so no reader can change another's view. */
  #toRecord(row: Row): FunctionRecord {
    const config = this.#configOf(row);
    Object.freeze(config.environment);
    return Object.freeze({
      ...config,
      id: row.id,
      tenantId: row.tenant_id,
      accountId: row.account_id,
      name: row.name,
      arn: functionArn(this.#region, row.account_id, row.name),
      codeDigest: row.code_digest,
      codeSha256: row.code_sha256,
      codeSize: row.code_size,
      tags: Object.freeze(JSON.parse(row.tags) as Record<string, string>),
      reservedConcurrency: row.reserved_concurrency,
      revisionId: row.revision_id,
      versionKey: row.version_key,
      lastModified: row.last_modified,
    });
  }
}
