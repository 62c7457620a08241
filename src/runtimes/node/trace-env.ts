// _X_AMZN_TRACE_ID in process.env, which Lambda's runtime sets for every invocation. Writing a variable
// of the real environment calls setenv(), and glibc keeps every value ever set (a getenv() caller may
// still hold it): a write per invocation costs ~2.5 µs and leaks ~180 bytes each time (90 MB over 500k
// invocations). So process.env becomes a proxy of the real environment that keeps this one name in a JS
// variable: reads, writes, `in`, enumeration, spreading, util.inspect and child processes (which copy
// process.env) see it as before; only native code calling getenv() for it does not. Part of the runtime
// inside the sandbox: node: builtins only.
import util from 'node:util';

const NAME = '_X_AMZN_TRACE_ID';
const real = process.env;
let value: string | undefined;

/** The target only carries util.inspect's hook (inspect looks at a proxy's target, not through it). */
const target: Record<string | symbol, unknown> = {};
Object.defineProperty(target, util.inspect.custom, {
  value: (_depth: number, options: util.InspectOptions) => util.inspect(snapshot(), options),
  configurable: true,
  enumerable: false,
  writable: true,
});

function snapshot(): Record<string, string | undefined> {
  const o: Record<string, string | undefined> = { ...real };
  if (value !== undefined) o[NAME] = value;
  return o;
}

function badDescriptor(): TypeError {
  const e = new TypeError(
    "'process.env' only accepts a configurable, writable, and enumerable data descriptor",
  ) as TypeError & { code: string };
  e.code = 'ERR_INVALID_OBJECT_DEFINE_PROPERTY';
  return e;
}

const env = new Proxy(target, {
  get: (_t, k) => (k === NAME ? value : k === util.inspect.custom ? target[k] : Reflect.get(real, k)),
  set(_t, k, v) {
    if (k === NAME) value = String(v);
    else (real as Record<string | symbol, unknown>)[k] = v;
    return true;
  },
  has: (_t, k) => (k === NAME ? value !== undefined : Reflect.has(real, k)),
  deleteProperty(_t, k) {
    if (k === NAME) value = undefined;
    else delete (real as Record<string | symbol, unknown>)[k];
    return true;
  },
  ownKeys() {
    const keys = Reflect.ownKeys(real);
    if (value !== undefined) keys.push(NAME);
    return keys;
  },
  getOwnPropertyDescriptor(_t, k) {
    if (k !== NAME) return Reflect.getOwnPropertyDescriptor(real, k);
    return value === undefined ? undefined : { value, writable: true, enumerable: true, configurable: true };
  },
  defineProperty(_t, k, d) {
    if (k !== NAME) return Reflect.defineProperty(real, k, d);
    if (d.get !== undefined || d.set !== undefined || !d.writable || !d.enumerable || !d.configurable) {
      throw badDescriptor();
    }
    value = String(d.value);
    return true;
  },
});

/** Installs the proxy as process.env (once, before any function code runs). */
export function installTraceEnv(): void {
  if (real[NAME] !== undefined) {
    value = real[NAME];
    delete real[NAME];
  }
  process.env = env as NodeJS.ProcessEnv;
}

/** Sets (or, undefined, removes) the current invocation's trace header, as Lambda's runtime does. */
export function setTraceId(tr: string | undefined): void {
  // Function code may have replaced process.env with an object of its own: that object gets it, as before.
  if (process.env !== env) {
    if (tr === undefined) delete process.env[NAME];
    else process.env[NAME] = tr;
    return;
  }
  value = tr;
}
