// The host's Python 3: every python3.x name runs it (the one stated exception to "a name runs the version
// it names", while it is the only Python to be had), so what it really is must be said wherever a user
// looks: GetFunction's RuntimeVersionConfig, the INIT_START log line, `kindling runtimes`.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

/** Where sandboxes can run it from: under /usr, which every sandbox sees read-only (never a pyenv shim). */
export const PYTHON_CANDIDATES = ['/usr/bin/python3', '/usr/local/bin/python3'];

/**
 * `KINDLING_PYTHON` names another interpreter (one installed under /opt, say); its prefix is then bound
 * read-only into the sandboxes. Otherwise the usual places.
 */
export function pythonCandidates(): readonly string[] {
  const chosen = process.env.KINDLING_PYTHON;
  return chosen ? [chosen] : PYTHON_CANDIDATES;
}

export interface HostPython {
  /** The interpreter, as the sandbox runs it. */
  path: string;
  /** `3.11.2`: sys.version_info of that interpreter. */
  version: string;
}

const probed = new Map<string, HostPython | undefined>();

/** The host's Python 3, asked once (a ~20 ms probe); undefined when none is installed where sandboxes see. */
export function hostPython(candidates: readonly string[] = pythonCandidates()): HostPython | undefined {
  const key = candidates.join('\0');
  if (probed.has(key)) return probed.get(key);
  let python: HostPython | undefined;
  for (const p of candidates) {
    if (!fs.existsSync(p)) continue;
    try {
      const out = execFileSync(
        p,
        ['-I', '-S', '-c', 'import sys; print("%d.%d.%d" % sys.version_info[:3])'],
        {
          encoding: 'utf8',
          timeout: 10_000,
          stdio: ['ignore', 'pipe', 'ignore'],
        },
      ).trim();
      if (/^3\.\d+\.\d+$/.test(out)) {
        python = { path: p, version: out };
        break;
      }
    } catch {
      // not runnable: try the next one
    }
  }
  probed.set(key, python);
  return python;
}

/** Lambda's runtime version string (`python:3.12.v38` there); here the interpreter's real version. */
export function pythonRuntimeVersion(py: HostPython): string {
  return `python:${py.version}`;
}

/**
 * Lambda's RuntimeVersionArn names the runtime build that runs a function (a hash on Lambda). Kindling's
 * says the interpreter's real version, so a python3.12 function on the host's 3.11 shows 3.11 in
 * GetFunction while its Runtime stays the name the user asked for.
 */
export function pythonRuntimeVersionArn(py: HostPython, region: string): string {
  return `arn:aws:lambda:${region}::runtime:${pythonRuntimeVersion(py)}`;
}

/** Why python3.x functions cannot run here, for CreateFunction's refusal; undefined when they can. */
export function pythonMissing(candidates: readonly string[] = pythonCandidates()): string | undefined {
  return hostPython(candidates) === undefined
    ? `no Python 3 interpreter is installed on this host (looked for ${candidates.join(', ')})`
    : undefined;
}
