// The disks behind shared volumes: one sparse ext4 image per file system under `<data dir>/volumes`,
// loop-mounted (nosuid, nodev) next to it, so a volume's size quota is the file system's own size and a
// write past it fails with ENOSPC inside the sandbox. Mounting needs root; an unprivileged server has no
// volumes (problem() says why). Host-side code here never walks a volume's contents: sizes come from
// statfs of the mount, deletion unmounts and unlinks the image, and the one directory it makes inside (an
// access point's root) is made as the volume's own unprivileged host uid, then checked for symlinks.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { dropArgs, findSetpriv } from '../../sandbox/host-user.js';

/** The part of a file system the disks need. */
export interface VolumeDisk {
  id: string;
  quotaMB: number;
  hostUid: number;
}

/** An access point's directory could not be made or reached (Lambda answers EFSMountFailureException). */
export class VolumeMountError extends Error {
  override readonly name = 'VolumeMountError';
}

const FIND = (names: string[]) => names.find((p) => fs.existsSync(p));

function run(bin: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile(bin, args, { timeout: 30_000 }, (err, _out, stderr) =>
      err ? reject(new Error(`${path.basename(bin)}: ${String(stderr).trim() || err.message}`)) : resolve(),
    ),
  );
}

/** Mount points in this mount namespace (mountinfo's 5th field, octal escapes undone). */
function mountPoints(): Set<string> {
  const out = new Set<string>();
  let text = '';
  try {
    text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const f = line.split(' ')[4];
    if (f !== undefined)
      out.add(f.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))));
  }
  return out;
}

export class VolumeDisks {
  readonly #root: string;
  readonly #bins: { mkfs?: string; mount?: string; umount?: string; setpriv?: string };
  readonly #mounting = new Map<string, Promise<string>>();

  constructor(root: string) {
    // The real path: mountinfo and /proc/self/fd name mounts and directories by it (a symlinked data dir).
    let real = root;
    try {
      real = path.join(fs.realpathSync(path.dirname(root)), path.basename(root));
    } catch {
      // no data dir yet: as given
    }
    this.#root = real;
    this.#bins = {
      mkfs: FIND(['/usr/sbin/mkfs.ext4', '/sbin/mkfs.ext4']),
      mount: FIND(['/usr/bin/mount', '/bin/mount']),
      umount: FIND(['/usr/bin/umount', '/bin/umount']),
      setpriv: findSetpriv(),
    };
  }

  /** Why this server cannot hold volumes; undefined when it can. */
  problem(): string | undefined {
    if (process.getuid?.() !== 0)
      return 'volumes need Kindling to run as root (each is a loop-mounted file system with its own size)';
    const b = this.#bins;
    if (!b.mkfs || !b.mount || !b.umount || !b.setpriv)
      return 'volumes need mkfs.ext4 (e2fsprogs), mount, umount and setpriv (util-linux) on this host';
    if (!fs.existsSync('/dev/loop-control'))
      return 'volumes need loop devices (/dev/loop-control is missing)';
    return undefined;
  }

  #image(id: string): string {
    return path.join(this.#root, `${id}.img`);
  }

  /** Where the volume is mounted on the host. */
  mountDir(id: string): string {
    return path.join(this.#root, id);
  }

  /** Makes the volume's file system (its root owned by the volume's host uid) and mounts it. */
  async create(d: VolumeDisk): Promise<void> {
    const problem = this.problem();
    if (problem !== undefined) throw new Error(problem);
    await fsp.mkdir(this.#root, { recursive: true, mode: 0o711 });
    // Traversable, not listable: sandboxes' bubblewrap runs as other uids (data-dir.ts).
    await fsp.chmod(this.#root, 0o711);
    const img = this.#image(d.id);
    const h = await fsp.open(img, 'wx', 0o600);
    try {
      // Sparse: a volume costs the disk only what is written to it.
      await h.truncate(d.quotaMB * 1024 * 1024);
    } finally {
      await h.close();
    }
    try {
      await run(this.#bins.mkfs!, [
        '-q',
        '-F',
        '-m',
        '0',
        '-E',
        `root_owner=${d.hostUid}:${d.hostUid},nodiscard`,
        img,
      ]);
      await this.mount(d);
    } catch (e) {
      await fsp.rm(img, { force: true });
      throw e;
    }
  }

  /** Mounts the volume unless it is (after a restart, or a kill that left it mounted); answers its dir. */
  mount(d: Pick<VolumeDisk, 'id'>): Promise<string> {
    const dir = this.mountDir(d.id);
    if (mountPoints().has(dir)) return Promise.resolve(dir);
    let p = this.#mounting.get(d.id);
    if (p === undefined) {
      p = (async () => {
        if (!fs.existsSync(this.#image(d.id)))
          throw new VolumeMountError(`volume ${d.id} has no disk on this node`);
        await fsp.mkdir(dir, { recursive: true, mode: 0o755 });
        if (!mountPoints().has(dir))
          await run(this.#bins.mount!, [
            '-t',
            'ext4',
            '-o',
            'loop,nosuid,nodev,noatime',
            this.#image(d.id),
            dir,
          ]);
        return dir;
      })().finally(() => this.#mounting.delete(d.id));
      this.#mounting.set(d.id, p);
    }
    return p;
  }

  /** Bytes used and size of the volumes mounted now (metrics at scrape time: nothing is mounted for them). */
  mountedUsage(ids: Iterable<string>): Map<string, { usedBytes: number; sizeBytes: number }> {
    const out = new Map<string, { usedBytes: number; sizeBytes: number }>();
    const mounted = mountPoints();
    for (const id of ids) {
      const dir = this.mountDir(id);
      if (!mounted.has(dir)) continue;
      try {
        const s = fs.statfsSync(dir);
        out.set(id, { usedBytes: (s.blocks - s.bfree) * s.bsize, sizeBytes: s.blocks * s.bsize });
      } catch {
        // unmounted meanwhile
      }
    }
    return out;
  }

  /** Bytes in use (statfs of the mounted file system, so nothing in it is walked or followed). */
  async usedBytes(d: Pick<VolumeDisk, 'id'>): Promise<number> {
    const s = await fsp.statfs(await this.mount(d));
    return (s.blocks - s.bfree) * s.bsize;
  }

  /**
   * The host directory of an access point's root, made when missing with `create` (mode, as the volume's
   * host uid, so a symlink planted by a tenant can make it nowhere the volume's owner could not already
   * write). Every component is then checked not to be a symlink; the sandbox driver checks again that the
   * descriptor it binds is this very path.
   */
  async accessPointDir(d: VolumeDisk, apPath: string, create: { mode: number } | undefined): Promise<string> {
    const root = await this.mount(d);
    const parts = apPath.split('/').filter((p) => p !== '');
    if (parts.some((p) => p === '.' || p === '..')) throw new VolumeMountError(`invalid path ${apPath}`);
    const dir = path.join(root, ...parts);
    // Components that exist must be directories, not symlinks, before anything is made under them.
    const check = async (): Promise<boolean> => {
      let cur = root;
      for (const p of parts) {
        cur = path.join(cur, p);
        let st: fs.Stats;
        try {
          st = await fsp.lstat(cur);
        } catch {
          return false;
        }
        if (!st.isDirectory())
          throw new VolumeMountError(`the access point's root directory ${apPath} is not a directory`);
      }
      return true;
    };
    if (!(await check())) {
      if (create === undefined)
        throw new VolumeMountError(`the access point's root directory ${apPath} does not exist`);
      await run(this.#bins.setpriv!, [
        ...dropArgs(d.hostUid),
        '/bin/mkdir',
        '-p',
        '-m',
        create.mode.toString(8),
        '--',
        dir,
      ]);
      // Again: a component swapped for a symlink meanwhile is caught here (and by the driver's descriptor check).
      if (!(await check()))
        throw new VolumeMountError(`the access point's root directory ${apPath} could not be made`);
    }
    return dir;
  }

  /** Unmounts (lazily: an environment still running keeps its view until it ends) and removes the disk. */
  async destroy(id: string): Promise<void> {
    const dir = this.mountDir(id);
    if (mountPoints().has(dir)) await run(this.#bins.umount!, ['-l', dir]);
    await fsp.rm(this.#image(id), { force: true });
    // rmdir, never a recursive removal: an empty mount point is all that is left.
    await fsp.rmdir(dir).catch(() => {});
  }

  /** Unmounts every volume of this server (at stop): the data dir can then be moved or removed. */
  async unmountAll(): Promise<void> {
    const mounted = mountPoints();
    let names: string[] = [];
    try {
      names = await fsp.readdir(this.#root);
    } catch {
      return;
    }
    for (const n of names) {
      const dir = path.join(this.#root, n);
      if (mounted.has(dir)) await run(this.#bins.umount!, ['-l', dir]).catch(() => {});
    }
  }
}
