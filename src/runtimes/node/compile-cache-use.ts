// Inside the sandbox: CommonJS modules of the function's code compiled with the V8 code cache the host
// built for this version (compile-cache-build.ts), found at the same relative path under the cache root.
// Node 20 has no compile cache of its own, so the loader's compile step is replaced for those files: the
// module is wrapped as Node wraps it and compiled through vm.Script with the cached data. A missing
// entry, or one V8 refuses (another V8, other flags, a corrupt file: checksums are on, see
// enableChecksums), compiles from source as before. Part of the runtime: node: builtins only.
import fs from 'node:fs';
import Module from 'node:module';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';

/** Node's CommonJS wrapper; the builder compiles the same text, so V8 accepts the cache. */
export const WRAP_HEAD = '(function (exports, require, module, __filename, __dirname) { ';
export const WRAP_TAIL = '\n});';
/** A module's cache file: its path under the cache root plus this suffix. */
export const CACHE_SUFFIX = '.v8';

/**
 * V8 checks a code cache's header (its version, flags, the source's length) but, in release builds, not
 * its bytes, and runs what it deserialises. With this flag it stores and verifies a checksum, and the
 * flag is part of the header's flag hash: builder and runtime both set it, or every entry is refused.
 */
export function enableChecksums(): void {
  v8.setFlagsFromString('--verify-snapshot-checksum');
}

export interface CompileCacheStats {
  used: number;
  rejected: number;
}

type Loader = {
  _compile(this: LoadedModule, content: string, filename: string, format?: string): unknown;
};
type LoadedModule = { exports: unknown; require(id: string): unknown };
type ModuleStatics = {
  _resolveFilename(request: string, parent: unknown, isMain: boolean, options?: unknown): string;
  _resolveLookupPaths(request: string, parent: unknown): string[] | null;
  _extensions: unknown;
  _cache: unknown;
};

/** The `require` a module's code gets, as Node builds it for a module. */
function requireFor(mod: LoadedModule): NodeJS.Require {
  const M = Module as unknown as ModuleStatics;
  const require = ((id: string) => mod.require(id)) as NodeJS.Require;
  const resolve = ((request: string, options?: unknown) =>
    M._resolveFilename(request, mod, false, options)) as NodeJS.RequireResolve;
  resolve.paths = (request: string) => M._resolveLookupPaths(request, mod);
  require.resolve = resolve;
  require.main = process.mainModule;
  require.extensions = M._extensions as NodeJS.Require['extensions'];
  require.cache = M._cache as NodeJS.Require['cache'];
  return require;
}

/** Compiles the task root's CommonJS modules with their cached data from `cacheRoot` from now on. */
export function useCompileCache(taskRoot: string, cacheRoot: string): CompileCacheStats {
  const stats: CompileCacheStats = { used: 0, rejected: 0 };
  const proto = Module.prototype as unknown as Loader;
  const original = proto._compile;
  const prefix = taskRoot.endsWith('/') ? taskRoot : `${taskRoot}/`;
  proto._compile = function compile(this: LoadedModule, content, filename, format) {
    // ES modules, other formats newer Nodes hand over, and files outside the code: Node's own way.
    if ((format !== undefined && format !== 'commonjs') || !filename.startsWith(prefix)) {
      return original.call(this, content, filename, format);
    }
    let data: Buffer;
    try {
      data = fs.readFileSync(`${cacheRoot}/${filename.slice(prefix.length)}${CACHE_SUFFIX}`);
    } catch {
      return original.call(this, content, filename, format);
    }
    let script: vm.Script;
    try {
      script = new vm.Script(WRAP_HEAD + content + WRAP_TAIL, {
        filename,
        // Columns on the first line as the source has them, not shifted by the wrapper.
        columnOffset: -WRAP_HEAD.length,
        cachedData: data,
      });
    } catch {
      // A syntax error: Node's loader reports it its own way (or, on newer Nodes, retries as ESM).
      return original.call(this, content, filename, format);
    }
    if (script.cachedDataRejected === true) stats.rejected++;
    else stats.used++;
    const fn = script.runInThisContext({ displayErrors: true }) as (...args: unknown[]) => unknown;
    return fn.call(this.exports, this.exports, requireFor(this), this, filename, path.dirname(filename));
  };
  return stats;
}
