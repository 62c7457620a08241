// A function's layers as one tree: the extracted layers merged in order, as Lambda extracts them one after
// the other into /opt (a later layer's file replaces an earlier one's). Built once per layer set in the
// code cache from hard links to the layers' extracted (read-only) files, then linked into each sandbox's
// /opt at bind like code into /var/task (sandbox/code-link.ts).
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** The merged tree of `layerDirs` at `<root>/<key>`, built when missing. */
export function buildLayerSet(root: string, key: string, layerDirs: readonly string[]): string {
  const out = path.join(root, key);
  if (fs.existsSync(out)) return out;
  fs.mkdirSync(root, { recursive: true, mode: 0o755 });
  const tmp = path.join(root, `.tmp-${key}-${randomBytes(6).toString('hex')}`);
  fs.mkdirSync(tmp, { mode: 0o755 });
  try {
    for (const dir of layerDirs) merge(dir, tmp);
    readOnly(tmp);
    try {
      fs.renameSync(tmp, out);
    } catch (e) {
      // Built meanwhile by another caller: identical.
      if (!fs.existsSync(out)) throw e;
      remove(tmp);
    }
  } catch (e) {
    remove(tmp);
    throw e;
  }
  return out;
}

function merge(from: string, to: string): void {
  for (const e of fs.readdirSync(from, { withFileTypes: true })) {
    const f = path.join(from, e.name);
    const t = path.join(to, e.name);
    const there = fs.lstatSync(t, { throwIfNoEntry: false });
    if (e.isDirectory()) {
      if (there !== undefined && !there.isDirectory()) fs.unlinkSync(t);
      if (there === undefined || !there.isDirectory()) fs.mkdirSync(t, { mode: 0o755 });
      merge(f, t);
    } else if (e.isFile()) {
      if (there !== undefined) remove(t);
      try {
        fs.linkSync(f, t);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
        fs.copyFileSync(f, t);
      }
    }
  }
}

function readOnly(dir: string): void {
  for (const e of fs.readdirSync(dir, { withFileTypes: true }))
    if (e.isDirectory()) readOnly(path.join(dir, e.name));
  fs.chmodSync(dir, 0o555);
}

function remove(p: string): void {
  const unlock = (d: string) => {
    try {
      if (!fs.lstatSync(d).isDirectory()) return;
      fs.chmodSync(d, 0o700);
      for (const e of fs.readdirSync(d)) unlock(path.join(d, e));
    } catch {
      // gone
    }
  };
  unlock(p);
  fs.rmSync(p, { recursive: true, force: true });
}
