// The function store's domain rules: the runtimes, the environment-variable checks, the retired network
// tag and the errors Lambda answers for them. No storage here (functions-repo.ts holds the SQL).
import { LambdaErrors } from '../errors.js';
import { runtimeEntry } from '../runtimes/registry.js';

// The one runtime list (runtimes/registry.ts); re-exported for the API's schema.
export { type RuntimeName as Runtime, SUPPORTED_RUNTIMES } from '../runtimes/registry.js';

/** A runtime a function is created with or switched to must run here as named (a known name the schema let by). */
export function checkRuntime(name: string): void {
  const missing = runtimeEntry(name)?.describe().missing;
  if (missing !== undefined) throw FunctionErrors.runtimeNotInstalled(name, missing);
}

/** The runtimes whose environments start /opt/extensions (runtimes/{node,python,provided}). */
const EXTENSION_RUNTIMES = new Set(['node', 'python', 'provided']);

/** Whether a runtime name starts the extensions of its layers; a layer holding them is refused elsewhere. */
export function startsExtensions(runtime: string): boolean {
  return EXTENSION_RUNTIMES.has(runtimeEntry(runtime)?.id ?? '');
}

/** `true`: every request gets a fresh environment from the pool, retired after its answer (worker: singleUse). */
export const SINGLE_USE_TAG = 'kindling:single-use';

export function isSingleUse(tags: Record<string, string>): boolean {
  return tags[SINGLE_USE_TAG] === 'true';
}

/**
 * An environment is replaced by a fresh one after this many invocations, or once its memory use (Max
 * Memory Used, as the REPORT line shows it) has grown past this many MB, instead of being left to grow.
 */
export const RECYCLE_AFTER_TAG = 'kindling:recycle-after-invocations';
export const RECYCLE_MEMORY_TAG = 'kindling:recycle-above-memory-mb';
const RECYCLE_LIMITS = { [RECYCLE_AFTER_TAG]: 1_000_000, [RECYCLE_MEMORY_TAG]: 10_240 } as const;

/** How a function's environments live and end, from its Kindling tags (worker: FunctionVersionSpec). */
export interface EnvironmentLifecycle {
  singleUse: boolean;
  recycleAfterInvocations: number | undefined;
  recycleAboveMemoryMB: number | undefined;
}

export function lifecycleOf(tags: Record<string, string>): EnvironmentLifecycle {
  const n = (key: string) => (tags[key] === undefined ? undefined : Number(tags[key]));
  return {
    singleUse: isSingleUse(tags),
    recycleAfterInvocations: n(RECYCLE_AFTER_TAG),
    recycleAboveMemoryMB: n(RECYCLE_MEMORY_TAG),
  };
}

/** Kindling's own tags are checked, not dropped: the retired network tag, and the lifecycle tags' keys and values. */
export function checkTags(tags: Record<string, string> | undefined): void {
  if (tags === undefined) return;
  refuseNetworkTag(tags);
  for (const [k, v] of Object.entries(tags)) {
    const key = k.trim().toLowerCase();
    if (key === SINGLE_USE_TAG) {
      if (k !== SINGLE_USE_TAG || (v !== 'true' && v !== 'false')) throw FunctionErrors.singleUseTag(k, v);
    } else if (key === RECYCLE_AFTER_TAG || key === RECYCLE_MEMORY_TAG) {
      const max = RECYCLE_LIMITS[key];
      if (k !== key || !/^[1-9][0-9]*$/.test(v) || Number(v) > max)
        throw FunctionErrors.recycleTag(k, v, key, max);
    }
  }
}

/**
 * Once the way to opt a function into outbound network; now refused, because any tenant (even a function
 * with its session key) could set it. Outbound network is an admin's grant per tenant (TenantStore.setNetwork).
 */
export const NETWORK_TAG = 'kindling:network';

/** Refuses the retired network tag (any letter case) in tags a tenant sets. */
export function refuseNetworkTag(tags: Record<string, string> | undefined): void {
  if (tags === undefined) return;
  for (const k of Object.keys(tags)) {
    if (k.trim().toLowerCase() === NETWORK_TAG) throw FunctionErrors.networkTag();
  }
}
export const LATEST = '$LATEST';
/** Lambda's limit on the serialized environment variables. */
export const ENV_LIMIT_BYTES = 4096;
/** Variables the runtime sets itself; Lambda refuses them in a function's configuration. */
const RESERVED_ENV = new Set([
  '_HANDLER',
  '_X_AMZN_TRACE_ID',
  'AWS_DEFAULT_REGION',
  'AWS_REGION',
  'AWS_EXECUTION_ENV',
  'AWS_LAMBDA_FUNCTION_NAME',
  'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
  'AWS_LAMBDA_FUNCTION_VERSION',
  'AWS_LAMBDA_INITIALIZATION_TYPE',
  'AWS_LAMBDA_LOG_GROUP_NAME',
  'AWS_LAMBDA_LOG_STREAM_NAME',
  'AWS_ACCESS_KEY',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_LAMBDA_RUNTIME_API',
  'LAMBDA_TASK_ROOT',
  'LAMBDA_RUNTIME_DIR',
]);

export const lambdaTimestamp = (d = new Date()): string => d.toISOString().replace('Z', '+0000');

export const FunctionErrors = {
  runtimeNotInstalled: (name: string, missing: string) =>
    LambdaErrors.invalidParameter(
      `The runtime parameter of ${name} is not supported: ${missing}. Choose a runtime this host runs (kindling runtimes).`,
    ),
  singleUseTag: (key: string, value: string) =>
    LambdaErrors.invalidParameter(
      `The tag ${JSON.stringify(key)} = ${JSON.stringify(value)} is not accepted: write ${SINGLE_USE_TAG} = true (or false).`,
    ),
  recycleTag: (key: string, value: string, tag: string, max: number) =>
    LambdaErrors.invalidParameter(
      `The tag ${JSON.stringify(key)} = ${JSON.stringify(value)} is not accepted: write ${tag} = a whole number from 1 to ${max}.`,
    ),
  networkTag: () =>
    LambdaErrors.invalidParameter(
      `The tag ${NETWORK_TAG} is not accepted: outbound network is granted per tenant by an administrator (kindling tenants network), not by a function tag.`,
    ),
  exists: (name: string) => LambdaErrors.conflict(`Function already exist: ${name}`),
  envTooLarge: (measured: string) =>
    LambdaErrors.invalidParameter(
      `Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: ${measured}`,
    ),
  envReserved: (keys: string[]) =>
    LambdaErrors.invalidParameter(
      `Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: ${keys.join(', ')}`,
    ),
  envKey: (key: string) =>
    LambdaErrors.invalidParameter(
      `Lambda was unable to configure your environment variables because the environment variables you have provided contains invalid keys. Invalid key: ${key}`,
    ),
  reservedTooHigh: (limit: number) =>
    LambdaErrors.invalidParameter(
      `Specified ReservedConcurrentExecutions for function exceeds account's ConcurrentExecutions limit of [${limit}].`,
    ),
};

/** Checks environment variables where Lambda does: key names, reserved keys, 4 KB serialized. */
export function checkEnvironment(vars: Record<string, string>): void {
  const keys = Object.keys(vars);
  for (const k of keys) if (!/^[a-zA-Z]([a-zA-Z0-9_])+$/.test(k)) throw FunctionErrors.envKey(k);
  const reserved = keys.filter((k) => RESERVED_ENV.has(k));
  if (reserved.length > 0) throw FunctionErrors.envReserved(reserved);
  const measured = JSON.stringify(vars);
  if (Buffer.byteLength(measured) > ENV_LIMIT_BYTES) throw FunctionErrors.envTooLarge(measured);
}
