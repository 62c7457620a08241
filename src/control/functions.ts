// The function store: each tenant's functions ($LATEST), their configuration, code reference, tags and
// reserved concurrency, persisted in SQLite. Every write is one transaction; reads are cached in memory
// (the invoke hot path) and the cache is dropped on each write, which only this class performs.
import { randomUUID } from 'node:crypto';
import { LambdaErrors } from '../errors.js';
import type { RuntimeName as Runtime } from '../runtimes/registry.js';
import { type Db, migrate } from '../store/database.js';
import type { CodeStore, StoredCode } from './code-store.js';
import { type FunctionRef, functionArn } from './function-names.js';
import type { Tenant } from './tenants.js';

// The one runtime list (runtimes/registry.ts); re-exported for the API's schema.
export { type RuntimeName as Runtime, SUPPORTED_RUNTIMES } from '../runtimes/registry.js';

/**
 * Once the way to opt a function into outbound network; now refused, because any tenant (even a function
 * with its session key) could set it. Outbound network is an admin's grant per tenant (TenantStore.setNetwork).
 */
export const NETWORK_TAG = 'kindling:network';

/** Refuses the retired network tag (any letter case) in tags a tenant sets. */
export function refuseNetworkTag(tags: Record<string, string> | undefined): void {
  if (tags === undefined) return;
  for (const k of Object.keys(tags)) {
    if (k.trim().toLowerCase() === NETWORK_TAG) throw FunctionErrors.networkTag();
  }
}
export const LATEST = '$LATEST';
/** Lambda's limit on the serialized environment variables. */
export const ENV_LIMIT_BYTES = 4096;
/** Variables the runtime sets itself; Lambda refuses them in a function's configuration. */
const RESERVED_ENV = new Set([
  '_HANDLER',
  '_X_AMZN_TRACE_ID',
  'AWS_DEFAULT_REGION',
  'AWS_REGION',
  'AWS_EXECUTION_ENV',
  'AWS_LAMBDA_FUNCTION_NAME',
  'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
  'AWS_LAMBDA_FUNCTION_VERSION',
  'AWS_LAMBDA_INITIALIZATION_TYPE',
  'AWS_LAMBDA_LOG_GROUP_NAME',
  'AWS_LAMBDA_LOG_STREAM_NAME',
  'AWS_ACCESS_KEY',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_LAMBDA_RUNTIME_API',
  'LAMBDA_TASK_ROOT',
  'LAMBDA_RUNTIME_DIR',
]);

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

interface Row {
  id: string;
  tenant_id: string;
  account_id: string;
  name: string;
  config: string;
  code_digest: string;
  code_sha256: string;
  code_size: number;
  tags: string;
  reserved_concurrency: number | null;
  revision_id: string;
  version_key: string;
  last_modified: string;
}

const SCHEMA = [
  `CREATE TABLE functions (
     id TEXT PRIMARY KEY,
     tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
     account_id TEXT NOT NULL,
     name TEXT NOT NULL,
     config TEXT NOT NULL,
     code_digest TEXT NOT NULL,
     code_sha256 TEXT NOT NULL,
     code_size INTEGER NOT NULL,
     tags TEXT NOT NULL DEFAULT '{}',
     reserved_concurrency INTEGER,
     revision_id TEXT NOT NULL,
     version_key TEXT NOT NULL,
     last_modified TEXT NOT NULL,
     UNIQUE (tenant_id, name))`,
  'CREATE INDEX functions_code ON functions (code_digest)',
];

export const lambdaTimestamp = (d = new Date()): string => d.toISOString().replace('Z', '+0000');

export const FunctionErrors = {
  networkTag: () =>
    LambdaErrors.invalidParameter(
      `The tag ${NETWORK_TAG} is not accepted: outbound network is granted per tenant by an administrator (kindling tenants network), not by a function tag.`,
    ),
  exists: (name: string) => LambdaErrors.conflict(`Function already exist: ${name}`),
  envTooLarge: (measured: string) =>
    LambdaErrors.invalidParameter(
      `Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: ${measured}`,
    ),
  envReserved: (keys: string[]) =>
    LambdaErrors.invalidParameter(
      `Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: ${keys.join(', ')}`,
    ),
  envKey: (key: string) =>
    LambdaErrors.invalidParameter(
      `Lambda was unable to configure your environment variables because the environment variables you have provided contains invalid keys. Invalid key: ${key}`,
    ),
  reservedTooHigh: (limit: number) =>
    LambdaErrors.invalidParameter(
      `Specified ReservedConcurrentExecutions for function exceeds account's ConcurrentExecutions limit of [${limit}].`,
    ),
};

/** Checks environment variables where Lambda does: key names, reserved keys, 4 KB serialized. */
export function checkEnvironment(vars: Record<string, string>): void {
  const keys = Object.keys(vars);
  for (const k of keys) if (!/^[a-zA-Z]([a-zA-Z0-9_])+$/.test(k)) throw FunctionErrors.envKey(k);
  const reserved = keys.filter((k) => RESERVED_ENV.has(k));
  if (reserved.length > 0) throw FunctionErrors.envReserved(reserved);
  const measured = JSON.stringify(vars);
  if (Buffer.byteLength(measured) > ENV_LIMIT_BYTES) throw FunctionErrors.envTooLarge(measured);
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
  readonly #db: Db;
  readonly #code: CodeStore;
  readonly #region: string;
  readonly #cache = new Map<string, FunctionRecord>();
  readonly #listeners: ((change: FunctionChange) => void)[] = [];

  constructor(opts: FunctionStoreOptions) {
    this.#db = opts.db;
    this.#code = opts.code;
    this.#region = opts.region;
    migrate(this.#db, 'functions', SCHEMA);
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
    const row = this.#db
      .prepare('SELECT * FROM functions WHERE tenant_id = ? AND name = ?')
      .get(tenantId, name) as Row | undefined;
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
    const rows = this.#db
      .prepare('SELECT * FROM functions WHERE tenant_id = ? AND name > ? ORDER BY name LIMIT ?')
      .all(tenantId, after, max + 1) as Row[];
    const page = rows.slice(0, max).map((r) => this.#toRecord(r));
    const last = page[page.length - 1];
    return {
      functions: page,
      nextMarker:
        rows.length > max && last ? Buffer.from(last.name, 'utf8').toString('base64url') : undefined,
    };
  }

  count(tenantId: string): { functions: number; codeSize: number; reserved: number } {
    const r = this.#db
      .prepare(
        'SELECT COUNT(*) AS n, COALESCE(SUM(code_size), 0) AS size, COALESCE(SUM(reserved_concurrency), 0) AS reserved FROM functions WHERE tenant_id = ?',
      )
      .get(tenantId) as { n: number; size: number; reserved: number };
    return { functions: r.n, codeSize: r.size, reserved: r.reserved };
  }

  /** Digests referenced by any function (the code store keeps these at start). */
  referencedDigests(): Set<string> {
    const rows = this.#db.prepare('SELECT DISTINCT code_digest FROM functions').all() as {
      code_digest: string;
    }[];
    return new Set(rows.map((r) => r.code_digest));
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
      try {
        this.#db
          .prepare(
            `INSERT INTO functions (id, tenant_id, account_id, name, config, code_digest, code_sha256, code_size, tags,
               reserved_concurrency, revision_id, version_key, last_modified)
             VALUES (@id, @tenant_id, @account_id, @name, @config, @code_digest, @code_sha256, @code_size, @tags,
               @reserved_concurrency, @revision_id, @version_key, @last_modified)`,
          )
          .run(row);
      } catch (e) {
        if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE')
          throw FunctionErrors.exists(input.name);
        throw e;
      }
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
        const others = this.#db
          .prepare(
            'SELECT COALESCE(SUM(reserved_concurrency), 0) AS s FROM functions WHERE tenant_id = ? AND id != ?',
          )
          .get(tenant.id, cur.id) as { s: number };
        if (others.s + value > tenantLimit) throw FunctionErrors.reservedTooHigh(tenantLimit);
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
    const removed = this.#db.transaction(() => {
      const row = this.#db
        .prepare('SELECT * FROM functions WHERE tenant_id = ? AND name = ?')
        .get(tenant.id, name) as Row | undefined;
      if (!row) throw LambdaErrors.functionNotFound(this.arnOf(tenant, name));
      this.#db.prepare('DELETE FROM functions WHERE id = ?').run(row.id);
      const users = this.#db
        .prepare('SELECT COUNT(*) AS n FROM functions WHERE code_digest = ?')
        .get(row.code_digest) as { n: number };
      return { row, unused: users.n === 0 };
    })();
    this.#cache.delete(`${tenant.id}\0${name}`);
    if (removed.unused) this.#code.removeBlob(removed.row.code_digest);
    const rec = this.#toRecord(removed.row);
    this.#emit({ kind: 'deleted', record: rec });
    return rec;
  }

  /** Deletes every function of a tenant (the tenant is being deleted): environments retire, unused code goes. */
  deleteAll(tenant: Tenant): void {
    const names = this.#db.prepare('SELECT name FROM functions WHERE tenant_id = ?').all(tenant.id) as {
      name: string;
    }[];
    for (const { name } of names) this.delete(tenant, name);
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
    const { before, after, freed } = this.#db.transaction(() => {
      const cur = this.#db
        .prepare('SELECT * FROM functions WHERE tenant_id = ? AND name = ?')
        .get(tenant.id, name) as Row | undefined;
      if (!cur) throw LambdaErrors.functionNotFound(this.arnOf(tenant, name));
      if (revisionId !== undefined && revisionId !== cur.revision_id) throw LambdaErrors.preconditionFailed();
      const next: Row = { ...cur, ...change(cur) };
      this.#db
        .prepare(
          `UPDATE functions SET config = @config, code_digest = @code_digest, code_sha256 = @code_sha256, code_size = @code_size,
             tags = @tags, reserved_concurrency = @reserved_concurrency, revision_id = @revision_id, version_key = @version_key,
             last_modified = @last_modified WHERE id = @id`,
        )
        .run(next);
      let freedDigest: string | undefined;
      if (next.code_digest !== cur.code_digest) {
        const users = this.#db
          .prepare('SELECT COUNT(*) AS n FROM functions WHERE code_digest = ?')
          .get(cur.code_digest) as { n: number };
        if (users.n === 0) freedDigest = cur.code_digest;
      }
      return { before: cur, after: next, freed: freedDigest };
    })();
    this.#cache.delete(`${tenant.id}\0${name}`);
    if (freed) this.#code.removeBlob(freed);
    const rec = this.#toRecord(after);
    this.#emit({ kind: 'updated', record: rec, previous: this.#toRecord(before) });
    return rec;
  }

  /** Removes a blob nothing references (a refused or lost write leaves none behind). */
  #collect(digest: string): void {
    const users = this.#db
      .prepare('SELECT COUNT(*) AS n FROM functions WHERE code_digest = ?')
      .get(digest) as { n: number };
    if (users.n === 0) this.#code.removeBlob(digest);
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
