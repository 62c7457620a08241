// The host identity a sandbox runs as. A sandbox started by root must never be root to the kernel: its
// user namespace maps the sandbox user onto one unprivileged host uid from a range no account uses, one uid
// per environment, so per-uid kernel resources (inotify instances, RLIMIT_NPROC, keyrings) are not shared
// between environments either. Privileged set-up (cgroup placement) happens before the drop.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

/** First host uid/gid of the range; far above any account or container subuid range in use. */
export const HOST_ID_BASE = 2_100_000_000;
/** Ids cycle through the whole range before one is reused, so a straggler never shares an id. */
export const HOST_ID_COUNT = 65_536;

export function findSetpriv(): string | undefined {
  for (const p of ['/usr/bin/setpriv', '/bin/setpriv']) if (fs.existsSync(p)) return p;
  return undefined;
}

/** Whether unprivileged user namespaces work here (bwrap needs them once it no longer runs as root). */
export function unprivilegedUserns(setpriv: string): boolean {
  try {
    execFileSync(setpriv, [...dropArgs(HOST_ID_BASE + HOST_ID_COUNT - 1), '/usr/bin/unshare', '-U', 'true'], {
      timeout: 5000,
      stdio: 'ignore',
    });
    return true;
  } catch {
    return false;
  }
}

/** setpriv arguments that become `id` (uid and gid), with no supplementary groups and no capabilities. */
export function dropArgs(id: number): string[] {
  return [
    `--reuid=${id}`,
    `--regid=${id}`,
    '--clear-groups',
    '--inh-caps=-all',
    '--bounding-set=-all',
    '--no-new-privs',
    '--',
  ];
}

/** Hands out one host id per live environment, cycling through the range. */
export class HostIds {
  // A random start: several servers on one machine (tests) rarely hand out the same id at once.
  #next = Math.floor(Math.random() * HOST_ID_COUNT);
  readonly #inUse = new Set<number>();

  acquire(): number {
    for (let i = 0; i < HOST_ID_COUNT; i++) {
      const id = HOST_ID_BASE + this.#next;
      this.#next = (this.#next + 1) % HOST_ID_COUNT;
      if (!this.#inUse.has(id)) {
        this.#inUse.add(id);
        return id;
      }
    }
    throw new Error(`all ${HOST_ID_COUNT} sandbox host ids are in use`);
  }

  release(id: number): void {
    this.#inUse.delete(id);
  }

  get inUse(): number {
    return this.#inUse.size;
  }
}
