// Shared volumes (EFS-compatible file systems and access points) of each tenant, in the store (SQLite or
// PostgreSQL). A file system is one quota'd disk on this node (volume-disks.ts); an access point names a
// directory in it and the POSIX user a function's environments run as when they mount it. Another
// tenant's file systems and access points are never found, exactly like missing ones.
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { DomainError } from '../errors.js';
import { HOST_ID_BASE, HOST_ID_COUNT } from '../sandbox/host-user.js';
import type { Sql } from '../store/sql.js';
import type { Tenant } from './tenants.js';

/** Codes are EFS's error names; api/efs/errors.ts gives each its HTTP status. */
export class VolumeError extends DomainError {}

const e = (code: string, message: string, details: Record<string, unknown> = {}) =>
  new VolumeError(code, message, details);

export const VolumeErrors = {
  badRequest: (message: string) => e('BadRequest', message),
  fileSystemNotFound: (id: string) => e('FileSystemNotFound', `File system '${id}' does not exist.`),
  accessPointNotFound: (id: string) => e('AccessPointNotFound', `Access point '${id}' does not exist.`),
  fileSystemExists: (id: string) =>
    e('FileSystemAlreadyExists', `File system '${id}' already exists with creation token.`, {
      FileSystemId: id,
    }),
  accessPointExists: (id: string) =>
    e('AccessPointAlreadyExists', `Access point '${id}' already exists with this client token.`, {
      AccessPointId: id,
    }),
  inUse: (id: string) =>
    e('FileSystemInUse', `File system '${id}' has access points: delete them before the file system.`),
  accessPointLimit: () =>
    e('AccessPointLimitExceeded', 'The file system has the most access points allowed.'),
  fileSystemLimit: () => e('FileSystemLimitExceeded', 'The account has the most file systems allowed.'),
} as const;

/** Per-volume quota: the tag `kindling:quota-mb` on CreateFileSystem, else this. */
export const QUOTA_TAG = 'kindling:quota-mb';
export const DEFAULT_QUOTA_MB = 1024;
export const MIN_QUOTA_MB = 8;
export const MAX_QUOTA_MB = 1024 * 1024;
/** EFS's own limits: 1,000 file systems per account, 10,000 access points per file system (we keep fewer). */
const MAX_FILE_SYSTEMS = 1000;
const MAX_ACCESS_POINTS = 1000;
/**
 * Each file system's files belong to one host uid, above the range of per-environment uids (host-user.ts):
 * every environment mounting it runs as that uid, so what one writes the next can read and change.
 */
export const VOLUME_HOST_ID_BASE = HOST_ID_BASE + HOST_ID_COUNT;
const VOLUME_HOST_ID_COUNT = 1_000_000;

export interface FileSystem {
  id: string;
  tenantId: string;
  accountId: string;
  creationToken: string;
  /** Epoch ms. */
  createdAt: number;
  tags: Array<{ Key: string; Value: string }>;
  quotaMB: number;
  /** Owner of its files on the host (see VOLUME_HOST_ID_BASE). */
  hostUid: number;
  performanceMode: 'generalPurpose' | 'maxIO';
  throughputMode: 'bursting' | 'elastic';
}

export interface PosixUser {
  Uid: number;
  Gid: number;
}

export interface CreationInfo {
  OwnerUid: number;
  OwnerGid: number;
  /** Octal, 3 or 4 digits. */
  Permissions: string;
}

export interface AccessPoint {
  id: string;
  fileSystemId: string;
  tenantId: string;
  accountId: string;
  clientToken: string;
  tags: Array<{ Key: string; Value: string }>;
  posixUser: PosixUser | undefined;
  /** Absolute path in the file system ('/' by default). */
  path: string;
  creationInfo: CreationInfo | undefined;
  createdAt: number;
}

const SCHEMA = [
  `CREATE TABLE efs_file_systems (
     id TEXT PRIMARY KEY,
     tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
     account_id TEXT NOT NULL,
     creation_token TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     tags TEXT NOT NULL,
     quota_mb INTEGER NOT NULL,
     host_uid INTEGER NOT NULL UNIQUE,
     performance_mode TEXT NOT NULL,
     throughput_mode TEXT NOT NULL,
     UNIQUE (tenant_id, creation_token))`,
  `CREATE TABLE efs_access_points (
     id TEXT PRIMARY KEY,
     file_system_id TEXT NOT NULL REFERENCES efs_file_systems(id),
     tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
     account_id TEXT NOT NULL,
     client_token TEXT NOT NULL,
     tags TEXT NOT NULL,
     posix_user TEXT,
     path TEXT NOT NULL,
     creation_info TEXT,
     created_at INTEGER NOT NULL,
     UNIQUE (tenant_id, client_token))`,
  'CREATE INDEX efs_access_points_fs ON efs_access_points (file_system_id)',
];

// Rows read back are checked like API input: state read back is an entry point too.
const TagsJson = z.array(z.object({ Key: z.string(), Value: z.string() }));
const FsRow = z.object({
  id: z.string().regex(/^fs-[0-9a-f]{17}$/),
  tenant_id: z.string(),
  account_id: z.string(),
  creation_token: z.string(),
  created_at: z.number(),
  tags: z.string(),
  quota_mb: z.number().int(),
  host_uid: z.number().int(),
  performance_mode: z.enum(['generalPurpose', 'maxIO']),
  throughput_mode: z.enum(['bursting', 'elastic']),
});
const ApRow = z.object({
  id: z.string().regex(/^fsap-[0-9a-f]{17}$/),
  file_system_id: z.string(),
  tenant_id: z.string(),
  account_id: z.string(),
  client_token: z.string(),
  tags: z.string(),
  posix_user: z.string().nullable(),
  path: z.string(),
  creation_info: z.string().nullable(),
  created_at: z.number(),
});
const PosixJson = z.object({ Uid: z.number().int(), Gid: z.number().int() });
const CreationJson = z.object({
  OwnerUid: z.number().int(),
  OwnerGid: z.number().int(),
  Permissions: z.string(),
});

function toFs(raw: unknown): FileSystem {
  const r = FsRow.parse(raw);
  return {
    id: r.id,
    tenantId: r.tenant_id,
    accountId: r.account_id,
    creationToken: r.creation_token,
    createdAt: r.created_at,
    tags: TagsJson.parse(JSON.parse(r.tags)),
    quotaMB: r.quota_mb,
    hostUid: r.host_uid,
    performanceMode: r.performance_mode,
    throughputMode: r.throughput_mode,
  };
}

function toAp(raw: unknown): AccessPoint {
  const r = ApRow.parse(raw);
  return {
    id: r.id,
    fileSystemId: r.file_system_id,
    tenantId: r.tenant_id,
    accountId: r.account_id,
    clientToken: r.client_token,
    tags: TagsJson.parse(JSON.parse(r.tags)),
    posixUser: r.posix_user === null ? undefined : PosixJson.parse(JSON.parse(r.posix_user)),
    path: r.path,
    creationInfo: r.creation_info === null ? undefined : CreationJson.parse(JSON.parse(r.creation_info)),
    createdAt: r.created_at,
  };
}

/** EFS ids: a prefix and 17 hex digits. */
const newId = (prefix: 'fs' | 'fsap') => `${prefix}-${randomBytes(9).toString('hex').slice(0, 17)}`;

export const accessPointArn = (region: string, accountId: string, id: string) =>
  `arn:aws:elasticfilesystem:${region}:${accountId}:access-point/${id}`;
export const fileSystemArn = (region: string, accountId: string, id: string) =>
  `arn:aws:elasticfilesystem:${region}:${accountId}:file-system/${id}`;
/** The access point id of a full access point ARN of `accountId`; undefined for anything else. */
export function accessPointIdOf(arn: string, accountId: string): string | undefined {
  const m =
    /^arn:aws[a-zA-Z-]*:elasticfilesystem:[a-z0-9-]+:(\d{12}):access-point\/(fsap-[0-9a-f]{17})$/.exec(arn);
  return m !== null && m[1] === accountId ? m[2] : undefined;
}

export interface CreateFileSystemInput {
  creationToken: string;
  tags: Array<{ Key: string; Value: string }>;
  quotaMB: number;
  performanceMode: FileSystem['performanceMode'];
  throughputMode: FileSystem['throughputMode'];
}

export interface CreateAccessPointInput {
  fileSystemId: string;
  clientToken: string;
  tags: Array<{ Key: string; Value: string }>;
  posixUser: PosixUser | undefined;
  path: string;
  creationInfo: CreationInfo | undefined;
}

/** Whose volumes: a tenant, or what a function record knows of it. */
export type Owner = Pick<Tenant, 'id' | 'accountId'>;

export class VolumeStore {
  readonly #sql: Sql;
  readonly #ready: Promise<void>;
  readonly #deleted: ((ap: AccessPoint) => void)[] = [];

  constructor(sql: Sql) {
    this.#sql = sql;
    this.#ready = sql.migrate('efs-volumes', SCHEMA);
    this.#ready.catch(() => {});
  }

  async #q(): Promise<Sql> {
    await this.#ready;
    return this.#sql;
  }

  /** Access points deleted through this node: environments that mount them are retired. */
  onAccessPointDeleted(listener: (ap: AccessPoint) => void): void {
    this.#deleted.push(listener);
  }

  /** The new file system; FileSystemAlreadyExists (with its id) when the tenant used the token already. */
  async createFileSystem(tenant: Owner, input: CreateFileSystemInput): Promise<FileSystem> {
    const q = await this.#q();
    return q.tx(async (t) => {
      const same = await t.get('SELECT id FROM efs_file_systems WHERE tenant_id = ? AND creation_token = ?', [
        tenant.id,
        input.creationToken,
      ]);
      if (same !== undefined) throw VolumeErrors.fileSystemExists(String(same.id));
      const n = await t.get<{ n: number }>('SELECT COUNT(*) AS n FROM efs_file_systems WHERE tenant_id = ?', [
        tenant.id,
      ]);
      if ((n?.n ?? 0) >= MAX_FILE_SYSTEMS) throw VolumeErrors.fileSystemLimit();
      // Host uids are never reused while the data dir lives: a new volume never owns an old one's files.
      const top = await t.get<{ m: number | null }>('SELECT MAX(host_uid) AS m FROM efs_file_systems');
      const hostUid = top?.m == null ? VOLUME_HOST_ID_BASE : top.m + 1;
      if (hostUid >= VOLUME_HOST_ID_BASE + VOLUME_HOST_ID_COUNT) throw VolumeErrors.fileSystemLimit();
      const fs: FileSystem = {
        id: newId('fs'),
        tenantId: tenant.id,
        accountId: tenant.accountId,
        creationToken: input.creationToken,
        createdAt: Date.now(),
        tags: input.tags,
        quotaMB: input.quotaMB,
        hostUid,
        performanceMode: input.performanceMode,
        throughputMode: input.throughputMode,
      };
      await t.run(
        `INSERT INTO efs_file_systems (id, tenant_id, account_id, creation_token, created_at, tags, quota_mb,
           host_uid, performance_mode, throughput_mode) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          fs.id,
          fs.tenantId,
          fs.accountId,
          fs.creationToken,
          fs.createdAt,
          JSON.stringify(fs.tags),
          fs.quotaMB,
          fs.hostUid,
          fs.performanceMode,
          fs.throughputMode,
        ],
      );
      return fs;
    });
  }

  async fileSystem(tenant: Owner, id: string): Promise<FileSystem> {
    const row = await (await this.#q()).get('SELECT * FROM efs_file_systems WHERE id = ? AND tenant_id = ?', [
      id,
      tenant.id,
    ]);
    if (row === undefined) throw VolumeErrors.fileSystemNotFound(id);
    return toFs(row);
  }

  /** Every file system of every tenant (mounted again at start). */
  async allFileSystems(): Promise<FileSystem[]> {
    return (await (await this.#q()).all('SELECT * FROM efs_file_systems ORDER BY id')).map(toFs);
  }

  /** A page of the tenant's file systems in id order, after `marker` (an id). */
  async listFileSystems(
    tenant: Owner,
    opts: { creationToken?: string; after?: string; limit: number },
  ): Promise<{ fileSystems: FileSystem[]; more: boolean }> {
    const args: unknown[] = [tenant.id, opts.after ?? ''];
    let where = 'tenant_id = ? AND id > ?';
    if (opts.creationToken !== undefined) {
      where += ' AND creation_token = ?';
      args.push(opts.creationToken);
    }
    const rows = await (await this.#q()).all(
      `SELECT * FROM efs_file_systems WHERE ${where} ORDER BY id LIMIT ${opts.limit + 1}`,
      args,
    );
    return { fileSystems: rows.slice(0, opts.limit).map(toFs), more: rows.length > opts.limit };
  }

  /** Deletes the row; FileSystemInUse while any access point names it (they are what functions mount). */
  async deleteFileSystem(tenant: Owner, id: string): Promise<FileSystem> {
    return (await this.#q()).tx(async (t) => {
      const row = await t.get('SELECT * FROM efs_file_systems WHERE id = ? AND tenant_id = ? FOR UPDATE', [
        id,
        tenant.id,
      ]);
      if (row === undefined) throw VolumeErrors.fileSystemNotFound(id);
      const ap = await t.get('SELECT id FROM efs_access_points WHERE file_system_id = ? LIMIT 1', [id]);
      if (ap !== undefined) throw VolumeErrors.inUse(id);
      await t.run('DELETE FROM efs_file_systems WHERE id = ?', [id]);
      return toFs(row);
    });
  }

  /** A deleted tenant's access points and file systems (rows); answers the file systems, whose disks go next. */
  async deleteAll(tenant: Owner): Promise<FileSystem[]> {
    return (await this.#q()).tx(async (t) => {
      const rows = await t.all('SELECT * FROM efs_file_systems WHERE tenant_id = ?', [tenant.id]);
      await t.run('DELETE FROM efs_access_points WHERE tenant_id = ?', [tenant.id]);
      await t.run('DELETE FROM efs_file_systems WHERE tenant_id = ?', [tenant.id]);
      return rows.map(toFs);
    });
  }

  /** Same client token and file system: the same access point back (EFS's idempotency). */
  async createAccessPoint(tenant: Owner, input: CreateAccessPointInput): Promise<AccessPoint> {
    return (await this.#q()).tx(async (t) => {
      const fsRow = await t.get('SELECT id FROM efs_file_systems WHERE id = ? AND tenant_id = ? FOR UPDATE', [
        input.fileSystemId,
        tenant.id,
      ]);
      if (fsRow === undefined) throw VolumeErrors.fileSystemNotFound(input.fileSystemId);
      const same = await t.get('SELECT * FROM efs_access_points WHERE tenant_id = ? AND client_token = ?', [
        tenant.id,
        input.clientToken,
      ]);
      if (same !== undefined) {
        const ap = toAp(same);
        if (ap.fileSystemId === input.fileSystemId && ap.path === input.path) return ap;
        throw VolumeErrors.accessPointExists(ap.id);
      }
      const n = await t.get<{ n: number }>(
        'SELECT COUNT(*) AS n FROM efs_access_points WHERE file_system_id = ?',
        [input.fileSystemId],
      );
      if ((n?.n ?? 0) >= MAX_ACCESS_POINTS) throw VolumeErrors.accessPointLimit();
      const ap: AccessPoint = {
        id: newId('fsap'),
        fileSystemId: input.fileSystemId,
        tenantId: tenant.id,
        accountId: tenant.accountId,
        clientToken: input.clientToken,
        tags: input.tags,
        posixUser: input.posixUser,
        path: input.path,
        creationInfo: input.creationInfo,
        createdAt: Date.now(),
      };
      await t.run(
        `INSERT INTO efs_access_points (id, file_system_id, tenant_id, account_id, client_token, tags, posix_user,
           path, creation_info, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          ap.id,
          ap.fileSystemId,
          ap.tenantId,
          ap.accountId,
          ap.clientToken,
          JSON.stringify(ap.tags),
          ap.posixUser === undefined ? null : JSON.stringify(ap.posixUser),
          ap.path,
          ap.creationInfo === undefined ? null : JSON.stringify(ap.creationInfo),
          ap.createdAt,
        ],
      );
      return ap;
    });
  }

  async accessPoint(tenant: Owner, id: string): Promise<AccessPoint> {
    const row = await (await this.#q()).get(
      'SELECT * FROM efs_access_points WHERE id = ? AND tenant_id = ?',
      [id, tenant.id],
    );
    if (row === undefined) throw VolumeErrors.accessPointNotFound(id);
    return toAp(row);
  }

  async listAccessPoints(
    tenant: Owner,
    opts: { fileSystemId?: string; after?: string; limit: number },
  ): Promise<{ accessPoints: AccessPoint[]; more: boolean }> {
    const args: unknown[] = [tenant.id, opts.after ?? ''];
    let where = 'tenant_id = ? AND id > ?';
    if (opts.fileSystemId !== undefined) {
      where += ' AND file_system_id = ?';
      args.push(opts.fileSystemId);
    }
    const rows = await (await this.#q()).all(
      `SELECT * FROM efs_access_points WHERE ${where} ORDER BY id LIMIT ${opts.limit + 1}`,
      args,
    );
    return { accessPoints: rows.slice(0, opts.limit).map(toAp), more: rows.length > opts.limit };
  }

  /** The data stays in the file system (as on EFS); environments that mount it are retired. */
  async deleteAccessPoint(tenant: Owner, id: string): Promise<void> {
    const ap = await this.accessPoint(tenant, id);
    const r = await (await this.#q()).run('DELETE FROM efs_access_points WHERE id = ? AND tenant_id = ?', [
      id,
      tenant.id,
    ]);
    if (r.changes === 0) throw VolumeErrors.accessPointNotFound(id);
    for (const l of this.#deleted) {
      try {
        l(ap);
      } catch (err) {
        console.error('kindling: access point listener failed:', err);
      }
    }
  }
}
