// Lambda's reserved environment variables of a bound function, over the function's own. The runtime adds
// its own (NODE_PATH, LAMBDA_RUNTIME_DIR: runtimes/node/runtime.ts) when it binds.
import { randomBytes } from 'node:crypto';
import type { ExecutionEnvironment } from '../runtimes/runtime.js';
import type { FunctionVersionSpec, InvokeOptions } from './types.js';

export function reservedEnv(
  spec: FunctionVersionSpec,
  env: ExecutionEnvironment,
  opts: Pick<InvokeOptions, 'credentials'>,
  region: string,
  /** Lambda's values: 'provisioned-concurrency' for environments initialised ahead of requests. */
  initType: 'on-demand' | 'provisioned-concurrency' = 'on-demand',
): Record<string, string> {
  const creds = opts.credentials;
  const day = new Date().toISOString().slice(0, 10).replace(/-/g, '/');
  return {
    // /tmp is the only writable dir (and sbx_user1051's home in the sandbox's passwd); tools and the
    // AWS SDK's config loader look for HOME. A function may still set its own.
    HOME: '/tmp',
    ...spec.environment,
    AWS_LAMBDA_FUNCTION_NAME: spec.functionName,
    AWS_LAMBDA_FUNCTION_VERSION: spec.version,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(spec.memoryMB),
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${spec.functionName}`,
    // Lambda's shape, 32 hex digits: the environment's id (to find it in `kindling pool`), then random ones.
    AWS_LAMBDA_LOG_STREAM_NAME: `${day}/[${spec.version}]${env.id.replace(/^env-/, '')}${randomBytes(8).toString('hex')}`,
    AWS_LAMBDA_INITIALIZATION_TYPE: initType,
    LAMBDA_TASK_ROOT: env.taskRoot,
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_EXECUTION_ENV: `AWS_Lambda_${spec.runtime}`,
    TZ: ':UTC',
    LANG: 'en_US.UTF-8',
    PATH: '/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin',
    // The relay inside the sandbox, on the API's own port where the sandbox has its own network.
    AWS_ENDPOINT_URL: `http://127.0.0.1:${env.relayPort}`,
    _HANDLER: spec.handler,
    ...(creds !== undefined
      ? {
          AWS_ACCESS_KEY_ID: creds.accessKeyId,
          AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
          AWS_SESSION_TOKEN: creds.sessionToken,
        }
      : {}),
  };
}
