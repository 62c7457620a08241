// Places a version's code into a process sandbox's task dir by hard-linking the code cache's files into it.
// The sandbox already sees that dir read-only; files created under it stay read-only inside. A bind mount
// made now would arrive writable (mount flags do not propagate into the sandbox), so never do that.
import fs from 'node:fs';
import path from 'node:path';

/** Entries linked between yields to the event loop: small functions link in one go, big trees in slices. */
const SLICE = 256;

/**
 * Synchronous system calls on purpose: a pool hit waits on this, and a few direct link() calls are far
 * cheaper than a round trip through the thread pool each. Big trees yield every SLICE entries.
 */
export async function linkTree(src: string, dst: string): Promise<number> {
  let n = 0;
  let sinceYield = 0;
  const walk = async (from: string, to: string): Promise<void> => {
    for (const e of fs.readdirSync(from, { withFileTypes: true })) {
      const f = path.join(from, e.name);
      const t = path.join(to, e.name);
      if (e.isDirectory()) {
        fs.mkdirSync(t, { mode: 0o755 });
        await walk(f, t);
      } else if (e.isSymbolicLink()) {
        // Resolved inside the sandbox's own mount namespace, so it cannot reach host paths.
        fs.symlinkSync(fs.readlinkSync(f), t);
      } else if (e.isFile()) {
        try {
          fs.linkSync(f, t);
        } catch (err) {
          // Another filesystem (code cache outside the data dir): copy instead.
          if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
          fs.copyFileSync(f, t);
        }
        n++;
      }
      if (++sinceYield >= SLICE) {
        sinceYield = 0;
        await new Promise((r) => setImmediate(r));
      }
    }
  };
  await walk(src, dst);
  return n;
}
