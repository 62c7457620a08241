// Lambda layers: each tenant's layer versions (zips kept through the code store, content-addressed and
// extracted once like function code), their metadata in the store, and the resolution of a function's
// `Layers` ARNs. Version numbers come from a per-name counter that survives deleting every version, so a
// number is never reused. Another tenant's layer (or another region's) is simply not found.
import { z } from 'zod';
import { LambdaErrors } from '../errors.js';
import type { Sql } from '../store/sql.js';
import { type CodeStore, treeSize } from './code-store.js';
import { lambdaTimestamp } from './function-rules.js';
import type { Tenant } from './tenants.js';

/** What a function records of each of its layers: enough to run and bill it after the version is deleted. */
export interface FunctionLayer {
  arn: string;
  /** Hex SHA-256 of the layer's zip (the code store's digest). */
  digest: string;
  codeSize: number;
  unzippedSize: number;
}

export interface LayerVersion {
  tenantId: string;
  name: string;
  version: number;
  layerArn: string;
  layerVersionArn: string;
  digest: string;
  /** Base64 SHA-256, as Lambda reports CodeSha256. */
  sha256: string;
  codeSize: number;
  unzippedSize: number;
  description: string;
  licenseInfo: string | undefined;
  compatibleRuntimes: string[];
  compatibleArchitectures: string[];
  createdDate: string;
}

export interface PublishLayerInput {
  name: string;
  zip: Buffer;
  description?: string | undefined;
  licenseInfo?: string | undefined;
  compatibleRuntimes?: string[] | undefined;
  compatibleArchitectures?: string[] | undefined;
}

/** Lambda's limit on the layers of one function. */
export const MAX_FUNCTION_LAYERS = 5;

const SCHEMA = [
  `CREATE TABLE layer_names (
     tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
     name TEXT NOT NULL,
     last_version INTEGER NOT NULL,
     PRIMARY KEY (tenant_id, name))`,
  `CREATE TABLE layer_versions (
     tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
     account_id TEXT NOT NULL,
     name TEXT NOT NULL,
     version INTEGER NOT NULL,
     digest TEXT NOT NULL,
     sha256 TEXT NOT NULL,
     code_size INTEGER NOT NULL,
     unzipped_size INTEGER NOT NULL,
     description TEXT NOT NULL,
     license_info TEXT,
     compatible_runtimes TEXT NOT NULL,
     compatible_architectures TEXT NOT NULL,
     created_date TEXT NOT NULL,
     PRIMARY KEY (tenant_id, name, version))`,
  'CREATE INDEX layer_versions_digest ON layer_versions (digest)',
];

// Rows read back are checked like API input.
const Row = z.object({
  tenant_id: z.string(),
  account_id: z.string().regex(/^\d{12}$/),
  name: z.string(),
  version: z.number().int().positive(),
  digest: z.string().regex(/^[0-9a-f]{64}$/),
  sha256: z.string(),
  code_size: z.number().int(),
  unzipped_size: z.number().int(),
  description: z.string(),
  license_info: z.string().nullable(),
  compatible_runtimes: z.string(),
  compatible_architectures: z.string(),
  created_date: z.string(),
});

/** A full layer version ARN: region, account, name, version. */
const LAYER_VERSION_ARN =
  /^arn:aws[a-zA-Z-]*:lambda:([a-z0-9-]+):(\d{12}):layer:([A-Za-z0-9_-]{1,140}):([0-9]+)$/;
/** A layer ARN without version (LayerName may be one). */
const LAYER_ARN = /^arn:aws[a-zA-Z-]*:lambda:([a-z0-9-]+):(\d{12}):layer:([A-Za-z0-9_-]{1,140})$/;

export const LayerErrors = {
  versionNotFound: (arn: string) => LambdaErrors.notFound(`Layer version ${arn} does not exist.`),
  /** CreateFunction/UpdateFunctionConfiguration name a layer version that is not there (or not theirs). */
  functionLayerMissing: (arn: string) =>
    LambdaErrors.invalidParameter(`Layer version ${arn} does not exist.`),
  tooMany: () => LambdaErrors.invalidParameter(`Cannot reference more than ${MAX_FUNCTION_LAYERS} layers.`),
  /** Extensions run in the Node runtimes only so far: refused rather than left unstarted. */
  extensionsUnsupported: (arn: string, runtime: string) =>
    LambdaErrors.invalidParameter(
      `Layer version ${arn} contains extensions (extensions/), which Kindling runs on the nodejs, python and provided runtimes only, not on ${runtime}.`,
    ),
  sameLayerTwice: (arn: string) =>
    LambdaErrors.invalidParameter(
      `Two different versions of the same layer are not allowed to be referenced in the same function. ${arn}`,
    ),
  tooLarge: (limit: number, actual: number) =>
    LambdaErrors.invalidParameter(
      `Function code combined with layers exceeds the maximum allowed size of ${limit} bytes. The actual size is ${actual} bytes.`,
    ),
};

export class LayerStore {
  readonly #sql: Sql;
  readonly #code: CodeStore;
  readonly #region: string;
  readonly #ready: Promise<void>;

  constructor(opts: { sql: Sql; code: CodeStore; region: string }) {
    this.#sql = opts.sql;
    this.#code = opts.code;
    this.#region = opts.region;
    this.#ready = opts.sql.migrate('layers', SCHEMA);
    this.#ready.catch(() => {});
    // A zip shared by a layer version and a function: deleting the function must not drop the layer's blob.
    opts.code.addUseCheck((digest) => this.#inUse(digest));
  }

  async #q(): Promise<Sql> {
    await this.#ready;
    return this.#sql;
  }

  layerArn(accountId: string, name: string): string {
    return `arn:aws:lambda:${this.#region}:${accountId}:layer:${name}`;
  }

  /** The layer name a LayerName parameter (name or layer ARN) gives, for this tenant; undefined: not theirs. */
  nameIn(tenant: Tenant, layerName: string): string | undefined {
    const m = LAYER_ARN.exec(layerName);
    if (!m) return layerName;
    return m[1] === this.#region && m[2] === tenant.accountId ? m[3] : undefined;
  }

  async publish(tenant: Tenant, input: PublishLayerInput): Promise<LayerVersion> {
    const code = await this.#code.put(input.zip);
    try {
      const unzipped = await treeSize(code.codeDir);
      const db = await this.#q();
      const row = await db.tx(async (q) => {
        const next = await q.get<{ last_version: number }>(
          `INSERT INTO layer_names (tenant_id, name, last_version) VALUES (?, ?, 1)
           ON CONFLICT (tenant_id, name) DO UPDATE SET last_version = layer_names.last_version + 1
           RETURNING last_version`,
          [tenant.id, input.name],
        );
        if (next === undefined) throw LambdaErrors.service('could not number the layer version');
        const r = {
          tenant_id: tenant.id,
          account_id: tenant.accountId,
          name: input.name,
          version: next.last_version,
          digest: code.digest,
          sha256: code.sha256,
          code_size: code.size,
          unzipped_size: unzipped,
          description: input.description ?? '',
          license_info: input.licenseInfo ?? null,
          compatible_runtimes: JSON.stringify(input.compatibleRuntimes ?? []),
          compatible_architectures: JSON.stringify(input.compatibleArchitectures ?? []),
          created_date: lambdaTimestamp(),
        };
        await q.run(
          `INSERT INTO layer_versions (tenant_id, account_id, name, version, digest, sha256, code_size,
             unzipped_size, description, license_info, compatible_runtimes, compatible_architectures, created_date)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          [
            r.tenant_id,
            r.account_id,
            r.name,
            r.version,
            r.digest,
            r.sha256,
            r.code_size,
            r.unzipped_size,
            r.description,
            r.license_info,
            r.compatible_runtimes,
            r.compatible_architectures,
            r.created_date,
          ],
        );
        return r;
      });
      return this.#toVersion(row);
    } finally {
      this.#code.release(code.digest);
    }
  }

  async get(tenant: Tenant, name: string, version: number): Promise<LayerVersion | undefined> {
    const row = await (await this.#q()).get(
      'SELECT * FROM layer_versions WHERE tenant_id = ? AND name = ? AND version = ?',
      [tenant.id, name, version],
    );
    return row === undefined ? undefined : this.#toVersion(row);
  }

  /** A full layer version ARN of this tenant and region; undefined for anything else. */
  async byArn(tenant: Tenant, arn: string): Promise<LayerVersion | undefined> {
    const m = LAYER_VERSION_ARN.exec(arn);
    if (!m || m[1] !== this.#region || m[2] !== tenant.accountId) return undefined;
    const version = Number(m[4]);
    if (!Number.isSafeInteger(version)) return undefined;
    return this.get(tenant, m[3]!, version);
  }

  /** A layer's versions, newest first, after `before` (a version number) when paging. */
  async versions(tenant: Tenant, name: string, before: number, limit: number): Promise<LayerVersion[]> {
    const rows = await (await this.#q()).all(
      'SELECT * FROM layer_versions WHERE tenant_id = ? AND name = ? AND version < ? ORDER BY version DESC LIMIT ?',
      [tenant.id, name, before, limit],
    );
    return rows.map((r) => this.#toVersion(r));
  }

  /** Every version of the tenant's layers with names after `after`, by name then newest first. */
  async allVersions(tenant: Tenant, after: string): Promise<LayerVersion[]> {
    const rows = await (await this.#q()).all(
      'SELECT * FROM layer_versions WHERE tenant_id = ? AND name > ? ORDER BY name, version DESC',
      [tenant.id, after],
    );
    return rows.map((r) => this.#toVersion(r));
  }

  /** False when there was no such version. Functions that use it keep running it (as on Lambda). */
  async delete(tenant: Tenant, name: string, version: number): Promise<boolean> {
    const db = await this.#q();
    const row = await db.get<{ digest: string }>(
      'SELECT digest FROM layer_versions WHERE tenant_id = ? AND name = ? AND version = ?',
      [tenant.id, name, version],
    );
    if (row === undefined) return false;
    const r = await db.run('DELETE FROM layer_versions WHERE tenant_id = ? AND name = ? AND version = ?', [
      tenant.id,
      name,
      version,
    ]);
    if (r.changes !== 1) return false;
    const codeUse = await db.get('SELECT 1 AS x FROM functions WHERE code_digest = ? LIMIT 1', [row.digest]);
    if (codeUse === undefined) this.#code.removeBlob(row.digest);
    return true;
  }

  /**
   * A function's `Layers`, in order, as Lambda checks them: at most five, each an existing version of the
   * caller's own layers (anything else does not exist), no layer twice.
   */
  async resolveForFunction(tenant: Tenant, arns: readonly string[]): Promise<FunctionLayer[]> {
    if (arns.length > MAX_FUNCTION_LAYERS) throw LayerErrors.tooMany();
    const seen = new Set<string>();
    const out: FunctionLayer[] = [];
    for (const arn of arns) {
      const v = await this.byArn(tenant, arn);
      if (v === undefined) throw LayerErrors.functionLayerMissing(arn);
      if (seen.has(v.name)) throw LayerErrors.sameLayerTwice(arn);
      seen.add(v.name);
      out.push({
        arn: v.layerVersionArn,
        digest: v.digest,
        codeSize: v.codeSize,
        unzippedSize: v.unzippedSize,
      });
    }
    return out;
  }

  /**
   * Digests the code store must keep: every layer version's, and those functions and their published
   * versions still run after their layer version was deleted (recorded in each configuration).
   */
  async referencedDigests(): Promise<Set<string>> {
    const db = await this.#q();
    const out = new Set<string>();
    for (const r of await db.all<{ digest: string }>('SELECT DISTINCT digest FROM layer_versions'))
      out.add(r.digest);
    for (const r of await db.all<{ config: string }>(
      `SELECT config FROM functions WHERE config LIKE '%"layers":[{%'
       UNION ALL SELECT config FROM function_versions WHERE config LIKE '%"layers":[{%'`,
    )) {
      for (const l of (JSON.parse(r.config) as { layers?: FunctionLayer[] }).layers ?? []) out.add(l.digest);
    }
    return out;
  }

  /**
   * Whether a layer version or a function's layers use the digest. The configuration match is textual (a
   * digest is 64 hex digits, so a false match only keeps a blob longer).
   */
  async #inUse(digest: string): Promise<boolean> {
    const db = await this.#q();
    const hit = await db.get('SELECT 1 AS x FROM layer_versions WHERE digest = ? LIMIT 1', [digest]);
    if (hit !== undefined) return true;
    const like = `%${digest}%`;
    return (
      (await db.get(
        `SELECT 1 AS x FROM functions WHERE config LIKE ?
         UNION ALL SELECT 1 AS x FROM function_versions WHERE config LIKE ? LIMIT 1`,
        [like, like],
      )) !== undefined
    );
  }

  #toVersion(raw: unknown): LayerVersion {
    const r = Row.parse(raw);
    const layerArn = this.layerArn(r.account_id, r.name);
    return {
      tenantId: r.tenant_id,
      name: r.name,
      version: r.version,
      layerArn,
      layerVersionArn: `${layerArn}:${r.version}`,
      digest: r.digest,
      sha256: r.sha256,
      codeSize: r.code_size,
      unzippedSize: r.unzipped_size,
      description: r.description,
      licenseInfo: r.license_info ?? undefined,
      compatibleRuntimes: JSON.parse(r.compatible_runtimes) as string[],
      compatibleArchitectures: JSON.parse(r.compatible_architectures) as string[],
      createdDate: r.created_date,
    };
  }
}
