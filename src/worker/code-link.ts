// Places a version's code into an environment's task dir by hard-linking the code cache's files into it.
// The sandbox already sees that dir read-only; files created under it stay read-only inside. A bind mount
// made now would arrive writable (mount flags do not propagate into the sandbox), so never do that.
import fsp from 'node:fs/promises';
import path from 'node:path';

export async function linkTree(src: string, dst: string): Promise<number> {
  let n = 0;
  const entries = await fsp.readdir(src, { withFileTypes: true });
  await Promise.all(
    entries.map(async (e) => {
      const from = path.join(src, e.name);
      const to = path.join(dst, e.name);
      if (e.isDirectory()) {
        await fsp.mkdir(to, { mode: 0o755 });
        n += await linkTree(from, to);
      } else if (e.isSymbolicLink()) {
        // Resolved inside the sandbox's own mount namespace, so it cannot reach host paths.
        await fsp.symlink(await fsp.readlink(from), to);
      } else if (e.isFile()) {
        try {
          await fsp.link(from, to);
        } catch (err) {
          // Another filesystem (code cache outside the data dir): copy instead.
          if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
          await fsp.copyFile(from, to);
        }
        n++;
      }
    }),
  );
  return n;
}
