// `kindling serve`: starts the whole platform in this process and drains it on SIGTERM.
import { parseArgs } from 'node:util';
import { defaultConfig } from '../config.js';
import { Platform } from '../platform.js';
import { CliError } from './output.js';

export async function run(args: string[]): Promise<void> {
  let values: { port?: string; host?: string; 'data-dir'?: string; 'drain-ms'?: string };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        'data-dir': { type: 'string' },
        'drain-ms': { type: 'string' },
      },
    }));
  } catch (e) {
    throw new CliError((e as Error).message, 2);
  }
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port < 65536)) {
    throw new CliError(`--port must be a number from 0 to 65535, got '${values.port}'`, 2);
  }
  const config = defaultConfig({
    ...(port !== undefined && { port }),
    ...(values.host && { host: values.host }),
    ...(values['data-dir'] && { dataDir: values['data-dir'] }),
    ...(values['drain-ms'] && { drainMs: Number(values['drain-ms']) }),
  });
  const platform = await Platform.start(config);
  if (platform.root.created) {
    console.log('Created the admin access key (shown once; also saved to the data dir, mode 0600):');
    console.log(`  AWS_ACCESS_KEY_ID=${platform.root.accessKeyId}`);
    console.log(`  AWS_SECRET_ACCESS_KEY=${platform.root.secretAccessKey}`);
  }
  console.log(`kindling: data dir ${config.dataDir}`);
  console.log(`kindling: listening on ${platform.url}`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`kindling: ${signal} received, draining (up to ${config.drainMs} ms)`);
    platform.stop().then(
      () => process.exit(0),
      (e) => {
        console.error('kindling: shutdown failed:', e);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
