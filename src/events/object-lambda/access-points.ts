// S3 access points of the embedded store and the Object Lambda access points over them, per tenant
// (S3 Control's CreateAccessPoint / CreateAccessPointForObjectLambda). A supporting access point names one
// of the tenant's buckets and has an alias usable wherever a bucket name is; an Object Lambda access point
// names a supporting access point and the function that transforms GetObject through it.
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Sql } from '../../store/sql.js';

export interface AccessPoint {
  tenantId: string;
  name: string;
  bucket: string;
  /** `<name>-<random>-s3alias`: a bucket name that reaches the bucket through this access point. */
  alias: string;
  /** ISO 8601. */
  createdAt: string;
}

export interface Transformation {
  actions: string[];
  functionArn: string;
  payload: string | undefined;
}

export interface ObjectLambdaAccessPoint {
  tenantId: string;
  name: string;
  /** The supporting access point's name (of the same tenant). */
  supportingAccessPoint: string;
  transformations: Transformation[];
  alias: string;
  createdAt: string;
}

const SCHEMA = [
  `CREATE TABLE access_points (
     tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
     name TEXT NOT NULL,
     bucket TEXT NOT NULL,
     alias TEXT NOT NULL UNIQUE,
     created_at TEXT NOT NULL,
     PRIMARY KEY (tenant_id, name))`,
  `CREATE TABLE object_lambda_access_points (
     tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
     name TEXT NOT NULL,
     supporting TEXT NOT NULL,
     transformations TEXT NOT NULL,
     alias TEXT NOT NULL,
     created_at TEXT NOT NULL,
     PRIMARY KEY (tenant_id, name))`,
];

// Rows read back are checked like API input.
const ApRow = z.object({
  tenant_id: z.string(),
  name: z.string(),
  bucket: z.string(),
  alias: z.string(),
  created_at: z.string(),
});
const OlRow = z.object({
  tenant_id: z.string(),
  name: z.string(),
  supporting: z.string(),
  transformations: z.string(),
  alias: z.string(),
  created_at: z.string(),
});
const Transformations = z.array(
  z.object({ actions: z.array(z.string()), functionArn: z.string(), payload: z.string().optional() }),
);

const toAp = (raw: unknown): AccessPoint => {
  const r = ApRow.parse(raw);
  return { tenantId: r.tenant_id, name: r.name, bucket: r.bucket, alias: r.alias, createdAt: r.created_at };
};
const toOl = (raw: unknown): ObjectLambdaAccessPoint => {
  const r = OlRow.parse(raw);
  return {
    tenantId: r.tenant_id,
    name: r.name,
    supportingAccessPoint: r.supporting,
    transformations: Transformations.parse(JSON.parse(r.transformations)).map((t) => ({
      actions: t.actions,
      functionArn: t.functionArn,
      payload: t.payload,
    })),
    alias: r.alias,
    createdAt: r.created_at,
  };
};

const ALIAS_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789';
/** S3's alias shape: a prefix of the name, random letters, a fixed suffix; at most 63 characters. */
function newAlias(name: string, suffix: string): string {
  const rnd = [...randomBytes(20)].map((b) => ALIAS_CHARS[b % ALIAS_CHARS.length]).join('');
  return `${name.slice(0, 63 - rnd.length - suffix.length - 2)}-${rnd}-${suffix}`;
}

export const ACCESS_POINT_ALIAS_SUFFIX = 's3alias';

export class AccessPointStore {
  readonly #sql: Sql;

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  migrate(): Promise<void> {
    return this.#sql.migrate('access-points', SCHEMA);
  }

  /** Undefined when the tenant already has an access point of that name. */
  async create(tenantId: string, name: string, bucket: string): Promise<AccessPoint | undefined> {
    const ap: AccessPoint = {
      tenantId,
      name,
      bucket,
      alias: newAlias(name, ACCESS_POINT_ALIAS_SUFFIX),
      createdAt: new Date().toISOString(),
    };
    const r = await this.#sql.run(
      `INSERT INTO access_points (tenant_id, name, bucket, alias, created_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id, name) DO NOTHING`,
      [tenantId, name, bucket, ap.alias, ap.createdAt],
    );
    return r.changes === 1 ? ap : undefined;
  }

  async get(tenantId: string, name: string): Promise<AccessPoint | undefined> {
    const row = await this.#sql.get('SELECT * FROM access_points WHERE tenant_id = ? AND name = ?', [
      tenantId,
      name,
    ]);
    return row === undefined ? undefined : toAp(row);
  }

  /** The access point an alias names: callers check it is the caller's own. */
  async byAlias(alias: string): Promise<AccessPoint | undefined> {
    const row = await this.#sql.get('SELECT * FROM access_points WHERE alias = ?', [alias]);
    return row === undefined ? undefined : toAp(row);
  }

  /** Names after `after`, in order, at most `limit`; of one bucket when `bucket` is given. */
  async list(
    tenantId: string,
    opts: { bucket?: string; after?: string; limit: number },
  ): Promise<AccessPoint[]> {
    const rows = await this.#sql.all(
      `SELECT * FROM access_points WHERE tenant_id = ? AND name > ?${opts.bucket !== undefined ? ' AND bucket = ?' : ''}
       ORDER BY name LIMIT ?`,
      [tenantId, opts.after ?? '', ...(opts.bucket !== undefined ? [opts.bucket] : []), opts.limit],
    );
    return rows.map(toAp);
  }

  async delete(tenantId: string, name: string): Promise<boolean> {
    const r = await this.#sql.run('DELETE FROM access_points WHERE tenant_id = ? AND name = ?', [
      tenantId,
      name,
    ]);
    return r.changes === 1;
  }

  async createObjectLambda(
    tenantId: string,
    name: string,
    supportingAccessPoint: string,
    transformations: Transformation[],
  ): Promise<ObjectLambdaAccessPoint | undefined> {
    const ol: ObjectLambdaAccessPoint = {
      tenantId,
      name,
      supportingAccessPoint,
      transformations,
      alias: newAlias(name, '--ol-s3'),
      createdAt: new Date().toISOString(),
    };
    const r = await this.#sql.run(
      `INSERT INTO object_lambda_access_points (tenant_id, name, supporting, transformations, alias, created_at)
       VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, name) DO NOTHING`,
      [tenantId, name, supportingAccessPoint, JSON.stringify(transformations), ol.alias, ol.createdAt],
    );
    return r.changes === 1 ? ol : undefined;
  }

  async getObjectLambda(tenantId: string, name: string): Promise<ObjectLambdaAccessPoint | undefined> {
    const row = await this.#sql.get(
      'SELECT * FROM object_lambda_access_points WHERE tenant_id = ? AND name = ?',
      [tenantId, name],
    );
    return row === undefined ? undefined : toOl(row);
  }

  async listObjectLambda(
    tenantId: string,
    opts: { after?: string; limit: number },
  ): Promise<ObjectLambdaAccessPoint[]> {
    const rows = await this.#sql.all(
      'SELECT * FROM object_lambda_access_points WHERE tenant_id = ? AND name > ? ORDER BY name LIMIT ?',
      [tenantId, opts.after ?? '', opts.limit],
    );
    return rows.map(toOl);
  }

  async deleteObjectLambda(tenantId: string, name: string): Promise<boolean> {
    const r = await this.#sql.run(
      'DELETE FROM object_lambda_access_points WHERE tenant_id = ? AND name = ?',
      [tenantId, name],
    );
    return r.changes === 1;
  }
}
