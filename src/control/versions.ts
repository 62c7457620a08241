// Published versions and aliases of a tenant's functions. A version is an immutable snapshot of $LATEST's
// code and configuration with its own environments (its own versionKey); an alias names a version (or
// $LATEST) and may send a weighted share of requests to one other version. Qualified names resolve
// through one per-node cache, dropped on the control channel whenever a function of that name changes.
import { randomUUID } from 'node:crypto';
import { LambdaErrors } from '../errors.js';
import type { Sql, SqlExecutor } from '../store/sql.js';
import { ControlChannel, InvalidatedCache } from './control-changes.js';
import { functionArn } from './function-names.js';
import {
  type FunctionConfig,
  type FunctionRecord,
  type FunctionStore,
  LATEST,
  lambdaTimestamp,
  toFunctionRecord,
} from './functions.js';
import { FunctionRepo, type FunctionRow } from './functions-repo.js';
import type { Tenant } from './tenants.js';
import { type AliasRow, VersionRepo, type VersionRow } from './versions-repo.js';

export interface AliasRecord {
  functionId: string;
  /** The alias ARN: `…:function:name:alias`. */
  arn: string;
  name: string;
  functionVersion: string;
  description: string;
  /** At most one other version and its share (0–1) of the requests. */
  weights: Record<string, number>;
  revisionId: string;
}

export interface AliasInput {
  functionVersion?: string;
  description?: string;
  /** Replaces the routing when given ({} removes it). */
  weights?: Record<string, number>;
}

/** A version deleted on this node: its environments can go. */
export interface VersionDeleted {
  tenantId: string;
  functionId: string;
  functionArn: string;
  version: string;
}

const VERSION = /^[1-9]\d{0,9}$/;
/** Lambda's alias names: not all digits (those are versions). */
export const ALIAS_PATTERN = '(?!^[0-9]+$)([a-zA-Z0-9-_]+)';
const ALIAS = /^(?!\d+$)[a-zA-Z0-9_-]{1,128}$/;

const qualifiedKey = (tenantId: string, name: string, qualifier: string) =>
  `${tenantId}\0${name}\0${qualifier}`;
const functionPrefix = (tenantId: string, name: string) => `${tenantId}\0${name}\0`;

export const VersionErrors = {
  aliasExists: (arn: string) => LambdaErrors.conflict(`Alias already exists: ${arn}`),
  aliasNotFound: (arn: string) => LambdaErrors.notFound(`Alias not found: ${arn}`),
  codeSha: (given: string, current: string) =>
    LambdaErrors.invalidParameter(
      `CodeSHA256 (${given}) is different from current CodeSHA256 in $LATEST (${current}). Please try again with the current CodeSHA256.`,
    ),
  referenced: (aliases: string[]) =>
    LambdaErrors.conflict(
      `Unable to delete version because the following aliases reference it: [${aliases.join(', ')}]`,
    ),
  routingOnLatest: () =>
    LambdaErrors.invalidParameter(
      '$LATEST is not supported for an alias pointing to more than 1 version (RoutingConfig.AdditionalVersionWeights).',
    ),
  tooManyWeights: () =>
    LambdaErrors.invalidParameter(
      'Number of items in AdditionalVersionWeights exceeds the limit of 1: an alias routes to at most two versions.',
    ),
  sameVersion: (v: string) =>
    LambdaErrors.invalidParameter(
      `Version ${v} is the alias's FunctionVersion: AdditionalVersionWeights must name another version.`,
    ),
  weight: (v: string, w: number) =>
    LambdaErrors.invalidParameter(`Invalid weight ${w} for version ${v}: a weight is between 0.0 and 1.0.`),
};

export class VersionStore {
  readonly #sql: Sql;
  readonly #versions: VersionRepo;
  readonly #fns: FunctionRepo;
  readonly #functions: FunctionStore;
  readonly #channel: ControlChannel;
  readonly #cache = new InvalidatedCache<FunctionRecord>();
  readonly #deleted: ((d: VersionDeleted) => void)[] = [];

  private constructor(sql: Sql, versions: VersionRepo, fns: FunctionRepo, functions: FunctionStore) {
    this.#sql = sql;
    this.#versions = versions;
    this.#fns = fns;
    this.#functions = functions;
    this.#channel = new ControlChannel(sql);
  }

  /** After FunctionStore.open (its table first). */
  static async open(sql: Sql, functions: FunctionStore): Promise<VersionStore> {
    const store = new VersionStore(sql, VersionRepo.open(sql), await FunctionRepo.open(sql), functions);
    // A change made here drops the names at once (an alias to $LATEST holds $LATEST's record), before the
    // invocation service retires the old environments: no request in between binds the old code again.
    functions.onChange((c) => store.#cache.deletePrefix(functionPrefix(c.record.tenantId, c.record.name)));
    // Any change to a function (its $LATEST, a version, an alias) through any node drops its resolved names.
    await store.#channel.subscribe((change) => {
      if (change.kind === 'all') store.#cache.clear();
      else if (change.kind === 'function')
        store.#cache.deletePrefix(functionPrefix(change.tenantId, change.name));
    });
    return store;
  }

  onVersionDeleted(listener: (d: VersionDeleted) => void): void {
    this.#deleted.push(listener);
  }

  /**
   * `fn` ($LATEST, just resolved for the tenant) under a qualifier other than $LATEST: a version number or
   * an alias. Not found answers exactly as a missing function does.
   */
  resolve(fn: FunctionRecord, qualifier: string): Promise<FunctionRecord> {
    return this.#cache
      .load(qualifiedKey(fn.tenantId, fn.name, qualifier), () => this.#read(fn, qualifier))
      .then((rec) => {
        if (rec === undefined || rec.id !== fn.id)
          throw LambdaErrors.functionNotFound(`${fn.arn}:${qualifier}`);
        return rec;
      });
  }

  async #read(fn: FunctionRecord, qualifier: string): Promise<FunctionRecord | undefined> {
    if (VERSION.test(qualifier)) {
      const row = await this.#versions.version(fn.id, Number(qualifier));
      return row && versionRecord(fn, row);
    }
    if (!ALIAS.test(qualifier)) return undefined;
    const alias = await this.#versions.alias(fn.id, qualifier);
    if (!alias) return undefined;
    const target = await this.#target(fn, alias.function_version);
    if (!target) return undefined;
    const [extra] = Object.entries(JSON.parse(alias.routing) as Record<string, number>);
    let routing: FunctionRecord['routing'];
    if (extra !== undefined && extra[1] > 0) {
      const other = await this.#target(fn, extra[0]);
      if (other) routing = Object.freeze({ weight: extra[1], record: other });
    }
    return Object.freeze({ ...target, qualifier, ...(routing && { routing }) });
  }

  async #target(fn: FunctionRecord, version: string): Promise<FunctionRecord | undefined> {
    if (version === LATEST) return fn;
    const row = await this.#versions.version(fn.id, Number(version));
    return row && versionRecord(fn, row);
  }

  /**
   * PublishVersion: a snapshot of $LATEST as the next version number, or the last version when nothing
   * changed since it was published.
   */
  async publish(
    tenant: Tenant,
    name: string,
    opts: { codeSha256?: string; revisionId?: string; description?: string } = {},
  ): Promise<FunctionRecord> {
    const { fn, row, created } = await this.#sql.tx(async (q) => {
      const cur = await this.#lockFunction(q, tenant, name);
      if (opts.revisionId !== undefined && opts.revisionId !== cur.revision_id)
        throw LambdaErrors.preconditionFailed();
      if (opts.codeSha256 !== undefined && opts.codeSha256 !== cur.code_sha256)
        throw VersionErrors.codeSha(opts.codeSha256, cur.code_sha256);
      const last = await this.#versions.latestVersion(q, cur.id);
      if (last?.version_key.startsWith(`${cur.version_key}#`)) return { fn: cur, row: last, created: false };
      const n = await this.#versions.nextNumber(q, cur.id);
      const config = JSON.parse(cur.config) as FunctionConfig;
      if (opts.description !== undefined) config.description = opts.description;
      const made: VersionRow = {
        function_id: cur.id,
        version: n,
        config: JSON.stringify(config),
        code_digest: cur.code_digest,
        code_sha256: cur.code_sha256,
        code_size: cur.code_size,
        revision_id: randomUUID(),
        version_key: `${cur.version_key}#${n}`,
        last_modified: lambdaTimestamp(),
      };
      await this.#versions.insertVersion(q, made);
      return { fn: cur, row: made, created: true };
    });
    if (created) await this.#changed(tenant.id, name);
    return versionRecord(this.#record(fn), row);
  }

  /** ListVersionsByFunction: $LATEST first, then versions in number order; the marker is the last number. */
  async list(
    fn: FunctionRecord,
    opts: { marker?: string; maxItems?: number } = {},
  ): Promise<{ versions: FunctionRecord[]; nextMarker?: string }> {
    const max = opts.maxItems ?? 50;
    let after = 0;
    const head: FunctionRecord[] = [];
    if (opts.marker) {
      after = Number(Buffer.from(opts.marker, 'base64url').toString('utf8'));
      if (!Number.isInteger(after) || after < 0) throw LambdaErrors.invalidParameter('Invalid Marker');
    } else head.push(fn);
    const rows = await this.#versions.versions(fn.id, after, max - head.length + 1);
    const all = [...head, ...rows.map((r) => versionRecord(fn, r))];
    const page = all.slice(0, max);
    const last = page[page.length - 1];
    return {
      versions: page,
      nextMarker:
        all.length > max && last
          ? Buffer.from(last.version === LATEST ? '0' : last.version, 'utf8').toString('base64url')
          : undefined,
    };
  }

  /** DeleteFunction with a version qualifier; refused while an alias points to it. */
  async deleteVersion(tenant: Tenant, fn: FunctionRecord, version: string): Promise<void> {
    const { digest, unused } = await this.#sql.tx(async (q) => {
      const cur = await this.#lockFunction(q, tenant, fn.name);
      const row = cur.id === fn.id ? await this.#versions.version(cur.id, Number(version), q) : undefined;
      if (!row) throw LambdaErrors.functionNotFound(`${fn.arn}:${version}`);
      const users = (await this.#versions.allAliases(q, cur.id)).filter(
        (a) => a.function_version === version || version in (JSON.parse(a.routing) as Record<string, number>),
      );
      if (users.length > 0) throw VersionErrors.referenced(users.map((a) => a.name));
      await this.#versions.deleteVersion(q, cur.id, row.version);
      return { digest: row.code_digest, unused: (await this.#fns.codeUsers(row.code_digest, q)) === 0 };
    });
    await this.#changed(tenant.id, fn.name);
    if (unused) this.#functions.code.removeBlob(digest);
    const d: VersionDeleted = { tenantId: tenant.id, functionId: fn.id, functionArn: fn.arn, version };
    for (const l of this.#deleted) {
      try {
        l(d);
      } catch (e) {
        console.error('kindling: version deletion listener failed:', e);
      }
    }
  }

  async createAlias(
    tenant: Tenant,
    fn: FunctionRecord,
    alias: string,
    input: AliasInput,
  ): Promise<AliasRecord> {
    const row = await this.#sql.tx(async (q) => {
      const cur = await this.#lockFunction(q, tenant, fn.name);
      const made: AliasRow = {
        function_id: cur.id,
        name: alias,
        function_version: input.functionVersion ?? LATEST,
        description: input.description ?? '',
        routing: JSON.stringify(input.weights ?? {}),
        revision_id: randomUUID(),
      };
      await this.#checkAlias(q, cur, made);
      if (!(await this.#versions.insertAlias(q, made))) throw VersionErrors.aliasExists(`${fn.arn}:${alias}`);
      return made;
    });
    await this.#changed(tenant.id, fn.name);
    return aliasRecord(fn, row);
  }

  async getAlias(fn: FunctionRecord, alias: string): Promise<AliasRecord> {
    const row = await this.#versions.alias(fn.id, alias);
    if (!row) throw VersionErrors.aliasNotFound(`${fn.arn}:${alias}`);
    return aliasRecord(fn, row);
  }

  async listAliases(
    fn: FunctionRecord,
    opts: { functionVersion?: string; marker?: string; maxItems?: number } = {},
  ): Promise<{ aliases: AliasRecord[]; nextMarker?: string }> {
    const max = opts.maxItems ?? 50;
    let after = '';
    if (opts.marker) {
      after = Buffer.from(opts.marker, 'base64url').toString('utf8');
      if (!after) throw LambdaErrors.invalidParameter('Invalid Marker');
    }
    // Filtered after the read: a function has few aliases, and the marker stays a name.
    const out: AliasRecord[] = [];
    let nextMarker: string | undefined;
    for (;;) {
      const rows = await this.#versions.aliases(fn.id, after, 100);
      for (const r of rows) {
        if (opts.functionVersion !== undefined && r.function_version !== opts.functionVersion) continue;
        if (out.length === max) {
          nextMarker = Buffer.from(out[out.length - 1]!.name, 'utf8').toString('base64url');
          return { aliases: out, nextMarker };
        }
        out.push(aliasRecord(fn, r));
      }
      if (rows.length < 100) return { aliases: out };
      after = rows[rows.length - 1]!.name;
    }
  }

  async updateAlias(
    tenant: Tenant,
    fn: FunctionRecord,
    alias: string,
    input: AliasInput & { revisionId?: string },
  ): Promise<AliasRecord> {
    const row = await this.#sql.tx(async (q) => {
      const cur = await this.#lockFunction(q, tenant, fn.name);
      const old = cur.id === fn.id ? await this.#versions.alias(cur.id, alias, q) : undefined;
      if (!old) throw VersionErrors.aliasNotFound(`${fn.arn}:${alias}`);
      if (input.revisionId !== undefined && input.revisionId !== old.revision_id)
        throw LambdaErrors.preconditionFailed();
      const next: AliasRow = {
        ...old,
        function_version: input.functionVersion ?? old.function_version,
        description: input.description ?? old.description,
        routing: input.weights !== undefined ? JSON.stringify(input.weights) : old.routing,
        revision_id: randomUUID(),
      };
      await this.#checkAlias(q, cur, next);
      if (!(await this.#versions.updateAlias(q, next, old.revision_id)))
        throw LambdaErrors.preconditionFailed();
      return next;
    });
    await this.#changed(tenant.id, fn.name);
    return aliasRecord(fn, row);
  }

  async deleteAlias(tenant: Tenant, fn: FunctionRecord, alias: string): Promise<void> {
    await this.#sql.tx(async (q) => {
      const cur = await this.#lockFunction(q, tenant, fn.name);
      if (cur.id !== fn.id || !(await this.#versions.deleteAlias(q, cur.id, alias)))
        throw VersionErrors.aliasNotFound(`${fn.arn}:${alias}`);
    });
    await this.#changed(tenant.id, fn.name);
  }

  /** The versions an alias names exist, and its routing is one other published version at 0–1. */
  async #checkAlias(q: SqlExecutor, fn: FunctionRow, row: AliasRow): Promise<void> {
    const arn = functionArn(this.#functions.region, fn.account_id, fn.name);
    const exists = async (v: string) =>
      v === LATEST || (VERSION.test(v) && (await this.#versions.version(fn.id, Number(v), q)) !== undefined);
    if (!(await exists(row.function_version)))
      throw LambdaErrors.functionNotFound(`${arn}:${row.function_version}`);
    const weights = Object.entries(JSON.parse(row.routing) as Record<string, number>);
    if (weights.length === 0) return;
    if (weights.length > 1) throw VersionErrors.tooManyWeights();
    if (row.function_version === LATEST) throw VersionErrors.routingOnLatest();
    const [v, w] = weights[0]!;
    if (!(w >= 0 && w <= 1)) throw VersionErrors.weight(v, w);
    if (v === row.function_version) throw VersionErrors.sameVersion(v);
    if (v === LATEST) throw VersionErrors.routingOnLatest();
    if (!(await exists(v))) throw LambdaErrors.functionNotFound(`${arn}:${v}`);
  }

  async #lockFunction(q: SqlExecutor, tenant: Tenant, name: string): Promise<FunctionRow> {
    const cur = await this.#fns.lockByName(q, tenant.id, name);
    if (!cur) throw LambdaErrors.functionNotFound(this.#functions.arnOf(tenant, name));
    return cur;
  }

  async #changed(tenantId: string, name: string): Promise<void> {
    this.#cache.deletePrefix(functionPrefix(tenantId, name));
    await this.#functions.changed(tenantId, name);
  }

  #record(row: FunctionRow): FunctionRecord {
    return toFunctionRecord(row, this.#functions.region);
  }
}

/** A version's record: the function's identity, tags and reservation with the snapshot's code and config. */
function versionRecord(fn: FunctionRecord, row: VersionRow): FunctionRecord {
  const config = JSON.parse(row.config) as FunctionConfig;
  Object.freeze(config.environment);
  const version = String(row.version);
  const { routing: _r, ...base } = fn;
  return Object.freeze({
    ...base,
    ...config,
    codeDigest: row.code_digest,
    codeSha256: row.code_sha256,
    codeSize: row.code_size,
    revisionId: row.revision_id,
    versionKey: row.version_key,
    lastModified: row.last_modified,
    version,
    qualifier: version,
  });
}

function aliasRecord(fn: FunctionRecord, row: AliasRow): AliasRecord {
  return {
    functionId: row.function_id,
    arn: `${fn.arn}:${row.name}`,
    name: row.name,
    functionVersion: row.function_version,
    description: row.description,
    weights: JSON.parse(row.routing) as Record<string, number>,
    revisionId: row.revision_id,
  };
}

export { ALIAS };
