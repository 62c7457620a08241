// The EFS-compatible surface (SigV4 service `elasticfilesystem`, REST JSON under /2015-02-01):
// CreateFileSystem, DescribeFileSystems, DeleteFileSystem, CreateAccessPoint, DescribeAccessPoints and
// DeleteAccessPoint, per tenant, with EFS's error shapes. What a local volume cannot honestly be (encrypted
// with a KMS key, provisioned throughput, One Zone, backed up, replicated, mount targets) is refused by name.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { VolumeService } from '../../control/volume-service.js';
import {
  type AccessPoint,
  accessPointArn,
  DEFAULT_QUOTA_MB,
  type FileSystem,
  fileSystemArn,
  MAX_QUOTA_MB,
  MIN_QUOTA_MB,
  QUOTA_TAG,
  VolumeErrors,
} from '../../control/volumes.js';
import { isDomainError, KindlingError } from '../../errors.js';
import { StoreUnavailableError } from '../../store/sql.js';
import { validationMessage } from '../lambda/validation.js';
import type { ApiRequest, ApiResponse, ApiSurface, RequestHead } from '../surface.js';

const MAX_BODY = 64 * 1024;
const BASE = '/2015-02-01';

/** EFS's HTTP status per error code. */
const STATUS: Record<string, number> = {
  BadRequest: 400,
  FileSystemNotFound: 404,
  AccessPointNotFound: 404,
  FileSystemAlreadyExists: 409,
  AccessPointAlreadyExists: 409,
  FileSystemInUse: 409,
  AccessPointLimitExceeded: 403,
  FileSystemLimitExceeded: 403,
};

const TagList = z
  .array(z.strictObject({ Key: z.string().min(1).max(128), Value: z.string().max(256) }))
  .max(50);
const CreateFileSystemBody = z.strictObject({
  CreationToken: z.string().min(1).max(64),
  PerformanceMode: z.enum(['generalPurpose', 'maxIO']).optional(),
  Encrypted: z.boolean().optional(),
  KmsKeyId: z.string().optional(),
  ThroughputMode: z.enum(['bursting', 'provisioned', 'elastic']).optional(),
  ProvisionedThroughputInMibps: z.number().optional(),
  AvailabilityZoneName: z.string().optional(),
  Backup: z.boolean().optional(),
  Tags: TagList.optional(),
});
const Permissions = z.string().regex(/^[0-7]{3,4}$/, 'Permissions must be 3 or 4 octal digits');
// (uid_t)-1 means "unchanged" to the kernel: never a user.
const Id32 = z.number().int().min(0).max(4294967294);
const CreateAccessPointBody = z.strictObject({
  ClientToken: z.string().min(1).max(64),
  FileSystemId: z.string().max(128),
  Tags: TagList.optional(),
  PosixUser: z
    .strictObject({ Uid: Id32, Gid: Id32, SecondaryGids: z.array(Id32).max(16).optional() })
    .optional(),
  RootDirectory: z
    .strictObject({
      Path: z.string().min(1).max(100).optional(),
      CreationInfo: z.strictObject({ OwnerUid: Id32, OwnerGid: Id32, Permissions }).optional(),
    })
    .optional(),
});

const FS_ID = /^fs-[0-9a-f]{8,40}$/;
const AP_ID = /^fsap-[0-9a-f]{8,40}$/;
const PATH = /^(\/[A-Za-z0-9._-]+)+\/?$|^\/$/;

const bad = (message: string) => VolumeErrors.badRequest(message);
const refused = (field: string, why: string) => bad(`${field} is not supported by Kindling: ${why}.`);

function parse<T>(schema: z.ZodType<T>, input: unknown): T {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const unknown = r.error.issues.find((i) => i.code === 'unrecognized_keys');
  if (unknown && unknown.code === 'unrecognized_keys') {
    const at = unknown.path.length > 0 ? ` (in ${unknown.path.join('.')})` : '';
    throw bad(`${unknown.keys.join(', ')}${at} is not supported by Kindling.`);
  }
  throw bad(validationMessage(r.error.issues, input));
}

function wire(err: unknown): KindlingError {
  if (err instanceof KindlingError) return err;
  if (isDomainError(err) && STATUS[err.code] !== undefined)
    return new KindlingError(err.code, STATUS[err.code]!, err.message, {
      ErrorCode: err.code,
      ...err.details,
    });
  if (err instanceof StoreUnavailableError)
    return new KindlingError(
      'InternalServerError',
      500,
      'The volume store is unavailable; retry the request.',
    );
  console.error('kindling: efs:', err);
  return new KindlingError('InternalServerError', 500, 'An internal error occurred.');
}

/** The quota a CreateFileSystem's tags ask for (`kindling:quota-mb`), else the default. */
function quotaOf(tags: Array<{ Key: string; Value: string }>): number {
  const t = tags.find((x) => x.Key === QUOTA_TAG);
  if (t === undefined) return DEFAULT_QUOTA_MB;
  const n = Number(t.Value);
  if (!/^\d+$/.test(t.Value) || n < MIN_QUOTA_MB || n > MAX_QUOTA_MB)
    throw bad(`The tag ${QUOTA_TAG} must be a whole number of MB from ${MIN_QUOTA_MB} to ${MAX_QUOTA_MB}.`);
  return n;
}

const nameOf = (tags: Array<{ Key: string; Value: string }>) => tags.find((t) => t.Key === 'Name')?.Value;
const seconds = (ms: number) => Math.floor(ms / 1000);

/** A paging token: the last id of the page, opaque to clients. */
const token = (id: string) => Buffer.from(id, 'utf8').toString('base64url');
function untoken(t: string | null, re: RegExp): string | undefined {
  if (t === null) return undefined;
  const s = Buffer.from(t, 'base64url').toString('utf8');
  if (!re.test(s)) throw bad('The pagination token is not valid.');
  return s;
}

function limitOf(v: string | null, max: number): number {
  if (v === null) return max;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1) throw bad('The maximum number of items must be a positive integer.');
  return Math.min(n, max);
}

/** EFS operations Kindling does not offer, by route, so the refusal names them. */
const UNIMPLEMENTED: [string, RegExp, string][] = [
  ['PUT', /^\/file-systems\/[^/]+$/, 'UpdateFileSystem'],
  ['POST', /^\/mount-targets$/, 'CreateMountTarget'],
  ['GET', /^\/mount-targets$/, 'DescribeMountTargets'],
  ['DELETE', /^\/mount-targets\/[^/]+$/, 'DeleteMountTarget'],
  ['GET', /^\/file-systems\/[^/]+\/policy$/, 'DescribeFileSystemPolicy'],
  ['PUT', /^\/file-systems\/[^/]+\/policy$/, 'PutFileSystemPolicy'],
  ['PUT', /^\/file-systems\/[^/]+\/lifecycle-configuration$/, 'PutLifecycleConfiguration'],
  ['PUT', /^\/file-systems\/[^/]+\/backup-policy$/, 'PutBackupPolicy'],
  ['POST', /^\/resource-tags\/[^/]+$/, 'TagResource'],
  ['DELETE', /^\/resource-tags\/[^/]+$/, 'UntagResource'],
  ['GET', /^\/resource-tags\/[^/]+$/, 'ListTagsForResource'],
];

export class EfsSurface implements ApiSurface {
  readonly name = 'efs';
  readonly services = ['elasticfilesystem'] as const;
  readonly #volumes: VolumeService;
  readonly #region: string;

  constructor(volumes: VolumeService, region: string) {
    this.#volumes = volumes;
    this.#region = region;
  }

  matches(head: RequestHead): boolean {
    return head.service === 'elasticfilesystem';
  }

  maxBodyBytes(): number {
    return MAX_BODY;
  }

  async handle(req: ApiRequest): Promise<ApiResponse> {
    const { status, body } = await this.#route(req);
    return {
      status,
      headers: { 'content-type': 'application/json', 'x-amzn-requestid': randomUUID() },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    };
  }

  #body(req: ApiRequest): unknown {
    if (req.body.length === 0) return {};
    try {
      const v = JSON.parse(req.body.toString('utf8'));
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v;
    } catch {
      // Answered below.
    }
    throw bad('The request body must be a JSON object.');
  }

  #onlyQuery(req: ApiRequest, allowed: readonly string[]): void {
    for (const k of req.query.keys())
      if (!allowed.includes(k)) throw bad(`${k} is not supported by Kindling.`);
  }

  async #fileSystemShape(fs: FileSystem): Promise<Record<string, unknown>> {
    const used = (await this.#volumes.usedBytes(fs)) ?? 0;
    const name = nameOf(fs.tags);
    return {
      OwnerId: fs.accountId,
      CreationToken: fs.creationToken,
      FileSystemId: fs.id,
      FileSystemArn: fileSystemArn(this.#region, fs.accountId, fs.id),
      CreationTime: seconds(fs.createdAt),
      LifeCycleState: 'available',
      ...(name !== undefined && { Name: name }),
      NumberOfMountTargets: 0,
      SizeInBytes: {
        Value: used,
        Timestamp: seconds(Date.now()),
        ValueInStandard: used,
        ValueInIA: 0,
        ValueInArchive: 0,
      },
      PerformanceMode: fs.performanceMode,
      Encrypted: false,
      ThroughputMode: fs.throughputMode,
      Tags: fs.tags,
      FileSystemProtection: { ReplicationOverwriteProtection: 'ENABLED' },
    };
  }

  #accessPointShape(ap: AccessPoint): Record<string, unknown> {
    const name = nameOf(ap.tags);
    return {
      ClientToken: ap.clientToken,
      ...(name !== undefined && { Name: name }),
      Tags: ap.tags,
      AccessPointId: ap.id,
      AccessPointArn: accessPointArn(this.#region, ap.accountId, ap.id),
      FileSystemId: ap.fileSystemId,
      ...(ap.posixUser !== undefined && { PosixUser: { ...ap.posixUser, SecondaryGids: [] } }),
      RootDirectory: {
        Path: ap.path,
        ...(ap.creationInfo !== undefined && { CreationInfo: ap.creationInfo }),
      },
      OwnerId: ap.accountId,
      LifeCycleState: 'available',
    };
  }

  async #route(req: ApiRequest): Promise<{ status: number; body?: unknown }> {
    const v = this.#volumes;
    const tenant = req.tenant;
    const p = req.path.startsWith(`${BASE}/`) ? req.path.slice(BASE.length) : '';
    const fsOne = /^\/file-systems\/([^/]+)$/.exec(p);
    const apOne = /^\/access-points\/([^/]+)$/.exec(p);
    if (p === '/file-systems' && req.method === 'POST') {
      this.#onlyQuery(req, []);
      const i = parse(CreateFileSystemBody, this.#body(req));
      if (i.Encrypted === true || i.KmsKeyId !== undefined)
        throw refused(
          i.KmsKeyId !== undefined ? 'KmsKeyId' : 'Encrypted',
          'volumes are not encrypted at rest',
        );
      if (i.ThroughputMode === 'provisioned' || i.ProvisionedThroughputInMibps !== undefined)
        throw refused('ThroughputMode provisioned', 'a volume has no throughput reservation');
      if (i.PerformanceMode === 'maxIO')
        throw refused('PerformanceMode maxIO', 'volumes have one performance mode');
      if (i.AvailabilityZoneName !== undefined)
        throw refused('AvailabilityZoneName', 'volumes live on this node');
      if (i.Backup === true) throw refused('Backup', 'volumes are not backed up automatically');
      const tags = i.Tags ?? [];
      const fs = await v.createFileSystem(tenant, {
        creationToken: i.CreationToken,
        tags,
        quotaMB: quotaOf(tags),
        performanceMode: 'generalPurpose',
        throughputMode: i.ThroughputMode === 'elastic' ? 'elastic' : 'bursting',
      });
      return { status: 201, body: await this.#fileSystemShape(fs) };
    }
    if (p === '/file-systems' && req.method === 'GET') {
      this.#onlyQuery(req, ['MaxItems', 'Marker', 'CreationToken', 'FileSystemId']);
      const q = req.query;
      const id = q.get('FileSystemId');
      if (id !== null) {
        if (!FS_ID.test(id)) throw bad(`Invalid file system id: ${id}`);
        return {
          status: 200,
          body: { FileSystems: [await this.#fileSystemShape(await v.store.fileSystem(tenant, id))] },
        };
      }
      const marker = q.get('Marker');
      const page = await v.store.listFileSystems(tenant, {
        ...(q.get('CreationToken') !== null && { creationToken: q.get('CreationToken')! }),
        ...(marker !== null && { after: untoken(marker, FS_ID)! }),
        limit: limitOf(q.get('MaxItems'), 100),
      });
      const last = page.fileSystems.at(-1);
      return {
        status: 200,
        body: {
          ...(marker !== null && { Marker: marker }),
          FileSystems: await Promise.all(page.fileSystems.map((f) => this.#fileSystemShape(f))),
          ...(page.more && last !== undefined && { NextMarker: token(last.id) }),
        },
      };
    }
    if (fsOne !== null && req.method === 'DELETE') {
      this.#onlyQuery(req, []);
      const id = fsOne[1]!;
      if (!FS_ID.test(id)) throw bad(`Invalid file system id: ${id}`);
      await v.deleteFileSystem(tenant, id);
      return { status: 204 };
    }
    if (p === '/access-points' && req.method === 'POST') {
      this.#onlyQuery(req, []);
      const i = parse(CreateAccessPointBody, this.#body(req));
      if (!FS_ID.test(i.FileSystemId)) throw bad(`Invalid file system id: ${i.FileSystemId}`);
      const user = i.PosixUser;
      if (user?.SecondaryGids !== undefined && user.SecondaryGids.length > 0)
        throw refused('PosixUser.SecondaryGids', 'a sandbox maps exactly one user and one group');
      if (user !== undefined && (user.Uid === 0 || user.Gid === 0))
        throw refused('PosixUser with uid or gid 0', 'functions never run as root');
      const path = i.RootDirectory?.Path ?? '/';
      if (!PATH.test(path) || path.split('/').some((s) => s === '.' || s === '..'))
        throw bad(`Invalid RootDirectory.Path: ${path}`);
      const info = i.RootDirectory?.CreationInfo;
      // Every file of a volume belongs to one host uid, which inside is the access point's user: a root
      // directory owned by anyone else could not be made honestly.
      if (info !== undefined) {
        const u = user ?? { Uid: 993, Gid: 990 };
        if (info.OwnerUid !== u.Uid || info.OwnerGid !== u.Gid)
          throw refused(
            'RootDirectory.CreationInfo with an owner other than the PosixUser',
            "a volume's files belong to the user of the access point that mounts it",
          );
      }
      const ap = await v.store.createAccessPoint(tenant, {
        fileSystemId: i.FileSystemId,
        clientToken: i.ClientToken,
        tags: i.Tags ?? [],
        posixUser: user === undefined ? undefined : { Uid: user.Uid, Gid: user.Gid },
        path: path.length > 1 ? path.replace(/\/$/, '') : path,
        creationInfo: info,
      });
      return { status: 200, body: this.#accessPointShape(ap) };
    }
    if (p === '/access-points' && req.method === 'GET') {
      this.#onlyQuery(req, ['MaxResults', 'NextToken', 'AccessPointId', 'FileSystemId']);
      const q = req.query;
      const apId = q.get('AccessPointId');
      const fsId = q.get('FileSystemId');
      if (apId !== null && fsId !== null)
        throw bad('Specify either AccessPointId or FileSystemId, not both.');
      if (apId !== null) {
        if (!AP_ID.test(apId)) throw bad(`Invalid access point id: ${apId}`);
        return {
          status: 200,
          body: { AccessPoints: [this.#accessPointShape(await v.store.accessPoint(tenant, apId))] },
        };
      }
      if (fsId !== null) {
        if (!FS_ID.test(fsId)) throw bad(`Invalid file system id: ${fsId}`);
        await v.store.fileSystem(tenant, fsId);
      }
      const next = q.get('NextToken');
      const page = await v.store.listAccessPoints(tenant, {
        ...(fsId !== null && { fileSystemId: fsId }),
        ...(next !== null && { after: untoken(next, AP_ID)! }),
        limit: limitOf(q.get('MaxResults'), 100),
      });
      const last = page.accessPoints.at(-1);
      return {
        status: 200,
        body: {
          AccessPoints: page.accessPoints.map((a) => this.#accessPointShape(a)),
          ...(page.more && last !== undefined && { NextToken: token(last.id) }),
        },
      };
    }
    if (apOne !== null && req.method === 'DELETE') {
      this.#onlyQuery(req, []);
      const id = apOne[1]!;
      if (!AP_ID.test(id)) throw bad(`Invalid access point id: ${id}`);
      await v.store.deleteAccessPoint(tenant, id);
      return { status: 204 };
    }
    const op = UNIMPLEMENTED.find(([method, re]) => method === req.method && re.test(p))?.[2];
    throw bad(op ? `Kindling does not implement ${op}.` : `Unknown operation: ${req.method} ${req.path}`);
  }

  errorResponse(err: unknown): ApiResponse {
    const e = wire(err);
    return {
      status: e.status,
      headers: {
        'content-type': 'application/json',
        'x-amzn-errortype': e.type,
        'x-amzn-requestid': randomUUID(),
      },
      body: JSON.stringify({ ErrorCode: e.type, Message: e.message, ...e.fields }),
    };
  }
}
