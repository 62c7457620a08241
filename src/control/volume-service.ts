// Volumes as functions and the EFS surface use them: a file system is a store row plus its disk on this
// node, and an access point resolves to the host directory, user and host uid a sandbox mounts it with.
import { type VolumeDisks, VolumeMountError } from '../store/volumes/volume-disks.js';
import {
  type AccessPoint,
  accessPointIdOf,
  type CreateFileSystemInput,
  type FileSystem,
  type Owner,
  VolumeErrors,
  type VolumeStore,
} from './volumes.js';

/** Lambda's sandbox user, used when an access point names no POSIX user. */
const DEFAULT_USER = { Uid: 993, Gid: 990 };

/** What a sandbox needs to mount one access point at `dest`. */
export interface VolumeMount {
  /** Host directory of the access point's root (on the volume's mounted disk). */
  dir: string;
  dest: string;
  /** The user and group the environment runs as inside (the access point's PosixUser). */
  uid: number;
  gid: number;
  /** The host uid the sandbox maps that user onto: the volume's owner, the same for every environment. */
  hostUid: number;
  accessPointId: string;
  fileSystemId: string;
}

export { VolumeMountError };

export class VolumeService {
  readonly store: VolumeStore;
  readonly disks: VolumeDisks;
  /** File systems known on this node by id (for metrics): loaded at start, kept by this node's changes. */
  readonly #known = new Map<string, FileSystem>();

  constructor(store: VolumeStore, disks: VolumeDisks) {
    this.store = store;
    this.disks = disks;
  }

  /** Learns the file systems there are (no disk is mounted before something uses it). */
  async start(): Promise<void> {
    for (const fs of await this.store.allFileSystems()) this.#known.set(fs.id, fs);
  }

  /** The volumes mounted on this node, for the metrics. */
  gauges(): Array<{ tenantId: string; fileSystemId: string; usedBytes: number; sizeBytes: number }> {
    const out = [];
    for (const [id, u] of this.disks.mountedUsage(this.#known.keys())) {
      const fs = this.#known.get(id);
      if (fs !== undefined) out.push({ tenantId: fs.tenantId, fileSystemId: id, ...u });
    }
    return out;
  }

  onAccessPointDeleted(listener: (ap: AccessPoint) => void): void {
    this.store.onAccessPointDeleted(listener);
  }

  async createFileSystem(owner: Owner, input: CreateFileSystemInput): Promise<FileSystem> {
    const problem = this.disks.problem();
    if (problem !== undefined)
      throw VolumeErrors.badRequest(`This server cannot create file systems: ${problem}.`);
    const fs = await this.store.createFileSystem(owner, input);
    try {
      await this.disks.create(fs);
    } catch (e) {
      await this.store.deleteFileSystem(owner, fs.id).catch(() => {});
      throw e;
    }
    this.#known.set(fs.id, fs);
    return fs;
  }

  /** Removes the row first (FileSystemInUse while access points name it), then the disk. */
  async deleteFileSystem(owner: Owner, id: string): Promise<void> {
    const fs = await this.store.deleteFileSystem(owner, id);
    this.#known.delete(fs.id);
    await this.disks.destroy(fs.id);
  }

  /** A tenant being deleted: its volumes and their data go with it. */
  async deleteAll(owner: Owner): Promise<void> {
    for (const fs of await this.store.deleteAll(owner)) {
      this.#known.delete(fs.id);
      await this.disks.destroy(fs.id);
    }
  }

  /** Bytes used on the volume's disk; undefined when this node holds no disk for it. */
  async usedBytes(fs: FileSystem): Promise<number | undefined> {
    try {
      return await this.disks.usedBytes(fs);
    } catch {
      return undefined;
    }
  }

  /** The tenant's access point an ARN names; undefined for a missing one or another tenant's, alike. */
  async accessPointOf(owner: Owner, arn: string): Promise<AccessPoint | undefined> {
    const id = accessPointIdOf(arn, owner.accountId);
    if (id === undefined) return undefined;
    try {
      return await this.store.accessPoint(owner, id);
    } catch {
      return undefined;
    }
  }

  /** Resolves an access point for a sandbox; VolumeMountError when it is gone or its directory cannot be made. */
  async mountFor(owner: Owner, arn: string, dest: string): Promise<VolumeMount> {
    const ap = await this.accessPointOf(owner, arn);
    if (ap === undefined) throw new VolumeMountError(`the access point ${arn} does not exist`);
    let fs: FileSystem;
    try {
      fs = await this.store.fileSystem(owner, ap.fileSystemId);
    } catch {
      throw new VolumeMountError(`the file system ${ap.fileSystemId} does not exist`);
    }
    // Made through another node (same store): known here once mounted here.
    this.#known.set(fs.id, fs);
    const create =
      ap.creationInfo === undefined ? undefined : { mode: Number.parseInt(ap.creationInfo.Permissions, 8) };
    const dir = await this.disks.accessPointDir(fs, ap.path, create);
    const user = ap.posixUser ?? DEFAULT_USER;
    return {
      dir,
      dest,
      uid: user.Uid,
      gid: user.Gid,
      hostUid: fs.hostUid,
      accessPointId: ap.id,
      fileSystemId: fs.id,
    };
  }
}
