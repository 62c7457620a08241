// Descriptors this process inherited from whoever started it (a shell's or a supervisor's pipe left open
// without close-on-exec) would pass on to every sandboxed process too: a tenant could write into them.
// Everything Node and its addons open is close-on-exec, so what lacks the flag came from outside.
import fs from 'node:fs';

/** O_CLOEXEC as /proc/<pid>/fdinfo shows it (octal flags). */
const O_CLOEXEC = 0o2000000;

/** Closes every descriptor above stdio that is not close-on-exec; returns the ones closed. */
export function closeInheritedDescriptors(): number[] {
  let fds: string[];
  try {
    fds = fs.readdirSync('/proc/self/fd');
  } catch {
    return []; // no /proc: nothing to look at (not Linux)
  }
  const closed: number[] = [];
  for (const name of fds) {
    const fd = Number(name);
    if (!Number.isInteger(fd) || fd <= 2) continue;
    let flags: number;
    try {
      const info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
      flags = Number.parseInt(/^flags:\s*([0-7]+)/m.exec(info)?.[1] ?? '', 8);
    } catch {
      continue; // the directory's own descriptor, gone by now
    }
    if (Number.isNaN(flags) || flags & O_CLOEXEC) continue;
    try {
      fs.closeSync(fd);
      closed.push(fd);
    } catch {}
  }
  return closed;
}
