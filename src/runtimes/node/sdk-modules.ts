// Host side of the Node runtime: the node_modules tree a function sees at /var/runtime/node_modules. As on
// Lambda's nodejs20.x it holds the AWS SDK v3 and nothing else: the closure of the installed @aws-sdk/*
// packages over their package.json dependencies, never Kindling's own (ioredis, better-sqlite3, zod, ...).
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface SdkModules {
  /** The tree to expose, a `node_modules` dir under the cache root. */
  dir: string;
  packages: number;
  files: number;
  /** Bytes of the files in the tree (shared with the source when hard-linked). */
  bytes: number;
  /** Time spent computing the closure, plus building when not cached. */
  ms: number;
  /** An identical tree from an earlier start was reused. */
  cached: boolean;
  /** Files are hard links to the source (false: copies, the source is on another filesystem). */
  linked: boolean;
}

/** Bump when the layout of a built tree changes, so old trees are not reused. */
const FORMAT = 2;

interface Manifest {
  name?: string;
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

function readManifest(dir: string): Manifest | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as Manifest;
  } catch {
    return undefined;
  }
}

/** Node's lookup of a bare package name from inside a package dir, never above the source tree. */
function resolvePackage(fromDir: string, name: string, top: string): string | undefined {
  for (let d = fromDir; ; d = path.dirname(d)) {
    if (path.basename(d) !== 'node_modules') {
      const candidate = path.join(d, 'node_modules', name);
      if (fs.existsSync(path.join(candidate, 'package.json'))) return candidate;
    }
    if (d === top || d === path.dirname(d)) return undefined;
  }
}

/** Package dirs reachable from every installed @aws-sdk/* package, as paths relative to `source`. */
export function sdkClosure(source: string): Map<string, string> {
  const top = path.dirname(source);
  const found = new Map<string, string>();
  const todo: string[] = [];
  const scope = path.join(source, '@aws-sdk');
  for (const name of fs.existsSync(scope) ? fs.readdirSync(scope).sort() : []) {
    const dir = path.join(scope, name);
    if (fs.existsSync(path.join(dir, 'package.json'))) todo.push(dir);
  }
  while (todo.length > 0) {
    const dir = todo.pop()!;
    const rel = path.relative(source, dir);
    if (found.has(rel)) continue;
    const m = readManifest(dir);
    if (m === undefined) continue;
    found.set(rel, m.version ?? '');
    const deps = { ...m.peerDependencies, ...m.optionalDependencies, ...m.dependencies };
    for (const dep of Object.keys(deps)) {
      // Absent optional and peer dependencies are fine: npm left them out.
      const target = resolvePackage(dir, dep, top);
      if (target !== undefined) todo.push(target);
    }
  }
  return found;
}

function contentKey(closure: Map<string, string>): string {
  const h = createHash('sha256').update(`kindling-sdk-modules ${FORMAT}\n`);
  for (const rel of [...closure.keys()].sort()) h.update(`${rel}\0${closure.get(rel)}\n`);
  return h.digest('hex').slice(0, 16);
}

interface Tally {
  files: number;
  bytes: number;
  link: boolean;
}

/**
 * Type declarations: nothing reads them at run time, and they are two thirds of the SDK's files (the
 * tree builds three times faster without them).
 */
function isTypeDeclaration(ent: fs.Dirent): boolean {
  if (ent.isDirectory()) return ent.name === 'dist-types';
  return /\.d\.[mc]?ts$/.test(ent.name);
}

/** Mirrors one package dir (without its own node_modules: nested packages are closure members too). */
function mirror(src: string, dst: string, tally: Tally, isPackageRoot: boolean): void {
  fs.mkdirSync(dst, { recursive: true, mode: 0o755 });
  for (const ent of fs.readdirSync(src, { withFileTypes: true })) {
    if (isPackageRoot && ent.name === 'node_modules') continue;
    if (isTypeDeclaration(ent)) continue;
    const from = path.join(src, ent.name);
    const to = path.join(dst, ent.name);
    if (ent.isDirectory()) mirror(from, to, tally, false);
    else if (ent.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(from), to);
    else if (ent.isFile()) {
      tally.files++;
      tally.bytes += fs.statSync(from).size;
      if (tally.link) {
        try {
          fs.linkSync(from, to);
          continue;
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK') throw e;
          tally.link = false;
        }
      }
      fs.copyFileSync(from, to);
      fs.chmodSync(to, fs.statSync(from).mode & 0o755);
    }
  }
}

/**
 * The SDK-only tree for `source` (a project's node_modules) under `cacheRoot`, built once per content
 * (package paths and versions) and reused across restarts. Older trees there are removed.
 */
export function prepareSdkModules(source: string, cacheRoot: string): SdkModules {
  const t0 = performance.now();
  const closure = sdkClosure(source);
  const name = `sdk-${contentKey(closure)}`;
  const final = path.join(cacheRoot, name);
  const dir = path.join(final, 'node_modules');
  // Traversable, not listable: bubblewrap, running as a sandbox's unprivileged uid, resolves the tree by path.
  fs.mkdirSync(cacheRoot, { recursive: true, mode: 0o711 });
  fs.chmodSync(cacheRoot, 0o711);
  const marker = path.join(final, '.complete');
  let tally: Tally = { files: 0, bytes: 0, link: true };
  const cached = fs.existsSync(marker);
  if (cached) {
    tally = JSON.parse(fs.readFileSync(marker, 'utf8')) as Tally;
  } else {
    const tmp = path.join(cacheRoot, `.building-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      // Readable by the sandbox user: the tree is bound on its own, its 0700 parents never matter.
      fs.mkdirSync(path.join(tmp, 'node_modules'), { recursive: true, mode: 0o755 });
      fs.chmodSync(tmp, 0o755);
      for (const rel of [...closure.keys()].sort()) {
        mirror(path.join(source, rel), path.join(tmp, 'node_modules', rel), tally, true);
      }
      // Written last: a tree without it was cut short and is rebuilt.
      fs.writeFileSync(path.join(tmp, '.complete'), `${JSON.stringify(tally)}\n`);
      fs.rmSync(final, { recursive: true, force: true });
      fs.renameSync(tmp, final);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }
  // Trees of other SDK versions, and half-built ones a killed start left (one server per data dir).
  for (const old of fs.readdirSync(cacheRoot)) {
    if (old !== name && (old.startsWith('sdk-') || old.startsWith('.building-'))) {
      fs.rmSync(path.join(cacheRoot, old), { recursive: true, force: true });
    }
  }
  return {
    dir,
    packages: closure.size,
    files: tally.files,
    bytes: tally.bytes,
    ms: performance.now() - t0,
    cached,
    linked: tally.link,
  };
}
