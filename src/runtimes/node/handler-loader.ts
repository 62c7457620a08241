// Loads a function's handler the way Lambda's Node runtime does: `file.export` (nested exports allowed)
// from the task root, as CommonJS or ES module by extension and the nearest package.json, with Lambda's
// init error types. Part of the Node runtime inside the sandbox: node: builtins only.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export type Handler = (
  event: unknown,
  context: unknown,
  callback?: (err: unknown, res?: unknown) => void,
) => unknown;

export function nearestPackageType(dir: string): string | undefined {
  for (let d = dir; ; d = path.dirname(d)) {
    // Checked first: a thrown ENOENT per directory level costs more than the lookup (a pool hit pays it).
    const file = path.join(d, 'package.json');
    if (fs.existsSync(file)) {
      try {
        return (JSON.parse(fs.readFileSync(file, 'utf8')) as { type?: string }).type;
      } catch {
        return undefined;
      }
    }
    if (d === path.dirname(d)) return undefined;
  }
}

export class InitError extends Error {
  constructor(
    readonly errorType: string,
    message: string,
    readonly stackTrace: string[] = [],
  ) {
    super(message);
  }
}

function moduleNotFound(e: unknown): boolean {
  const code = (e as { code?: string } | null)?.code;
  return code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND';
}

/**
 * Node's own import() of an ES-module handler. The in-sandbox build is CommonJS (tsconfig.sandbox.json),
 * where TypeScript would turn a literal import() into require(); made at run time, it stays import(). Where
 * code generation from strings is off (NODE_OPTIONS=--disallow-code-generation-from-strings), require():
 * Node 20.19 and later load an ES module without top-level await that way.
 */
let esmLoadCount = 0;
/** How many handlers this process has loaded through the ES-module loader (a warm-up's included). */
export function esmLoads(): number {
  return esmLoadCount;
}

function importEsm(url: string, fallback: () => unknown): Promise<unknown> {
  esmLoadCount++;
  let dynamicImport: (u: string) => Promise<unknown>;
  try {
    dynamicImport = new Function('u', 'return import(u)') as (u: string) => Promise<unknown>;
  } catch {
    return Promise.resolve().then(fallback);
  }
  return dynamicImport(url);
}

export async function loadHandler(handler: string, taskRoot: string): Promise<Handler> {
  const slash = handler.lastIndexOf('/');
  const dot = handler.indexOf('.', slash + 1);
  if (dot < 0) throw new InitError('Runtime.MalformedHandlerName', `Bad handler ${handler}`);
  const modName = handler.slice(0, dot);
  const exportPath = handler.slice(dot + 1).split('.');
  const base = path.resolve(taskRoot, modName);
  const req = createRequire(path.join(taskRoot, '__kindling_index.js'));
  let mod: unknown;
  try {
    const file = ['.js', '.mjs', '.cjs'].map((ext) => base + ext).find((f) => fs.existsSync(f));
    if (file === undefined) {
      // Not a file next to the task root: let Node resolve it (a directory, or a package).
      mod = req(modName.startsWith('.') || modName.startsWith('/') ? base : modName);
    } else if (
      file.endsWith('.mjs') ||
      (file.endsWith('.js') && nearestPackageType(path.dirname(file)) === 'module')
    ) {
      mod = await importEsm(pathToFileURL(file).href, () => req(file));
    } else {
      mod = req(file);
    }
  } catch (e) {
    if (e instanceof SyntaxError) {
      throw new InitError(
        'Runtime.UserCodeSyntaxError',
        `${e.name}: ${e.message}`,
        (e.stack ?? '').split('\n'),
      );
    }
    if (moduleNotFound(e)) {
      const err = e as Error;
      throw new InitError(
        'Runtime.ImportModuleError',
        `Error: ${err.message}`,
        (err.stack ?? '').split('\n'),
      );
    }
    throw e;
  }
  let fn: unknown = mod;
  for (const part of exportPath) {
    fn = fn === null || fn === undefined ? undefined : (fn as Record<string, unknown>)[part];
  }
  if (fn === undefined || fn === null) {
    throw new InitError('Runtime.HandlerNotFound', `${handler} is undefined or not exported`);
  }
  if (typeof fn !== 'function')
    throw new InitError('Runtime.HandlerNotFound', `${handler} is not a function`);
  return fn as Handler;
}
