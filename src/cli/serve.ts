// `kindling serve`: starts the whole platform in this process and drains it on SIGTERM.
import { parseArgs } from 'node:util';
import { defaultConfig, type PlatformConfig } from '../config.js';
import { Platform } from '../server/platform.js';
import { parseIntFlag } from './client.js';
import { CliError, USAGE } from './output.js';

export async function run(args: string[]): Promise<void> {
  let values: {
    help?: boolean;
    port?: string;
    host?: string;
    'data-dir'?: string;
    store?: string;
    blobs?: string;
    'drain-ms'?: string;
    'metrics-token'?: string;
    advertise?: string;
  };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        help: { type: 'boolean', short: 'h' },
        port: { type: 'string' },
        host: { type: 'string' },
        'data-dir': { type: 'string' },
        store: { type: 'string' },
        blobs: { type: 'string' },
        'drain-ms': { type: 'string' },
        'metrics-token': { type: 'string' },
        advertise: { type: 'string' },
      },
    }));
  } catch (e) {
    throw new CliError(`${(e as Error).message.split('. ')[0]} (see kindling serve --help)`, USAGE);
  }
  if (values.help) {
    console.log(
      'usage: kindling serve [--port 9000] [--host 127.0.0.1] [--data-dir ./.kindling] [--drain-ms 30000]\n' +
        '                     [--store sqlite|postgres://USER@HOST:PORT/DB]   (or KINDLING_STORE)\n' +
        '                     [--blobs DIR|s3://BUCKET[/prefix]]   (or KINDLING_BLOBS; S3: KINDLING_BLOBS_ENDPOINT,\n' +
        '                      KINDLING_BLOBS_ACCESS_KEY_ID / KINDLING_BLOBS_SECRET_ACCESS_KEY or AWS_*)\n' +
        '                     [--metrics-token TOKEN]   (or KINDLING_METRICS_TOKEN: a bearer token for /metrics)\n' +
        '                     [--advertise http://HOST:PORT]   (or KINDLING_ADVERTISE_URL: where other nodes reach this one)',
    );
    return;
  }
  const port = parseIntFlag(values.port, '--port', 0, 65535);
  const drainMs = parseIntFlag(values['drain-ms'], '--drain-ms', 0, 24 * 3600_000);
  let config: PlatformConfig;
  try {
    config = defaultConfig({
      ...(port !== undefined && { port }),
      ...(values.host && { host: values.host }),
      ...(values['data-dir'] && { dataDir: values['data-dir'] }),
      ...(values.store && { store: values.store }),
      ...(values.blobs !== undefined && { blobs: values.blobs }),
      ...(drainMs !== undefined && { drainMs }),
      ...(values['metrics-token'] !== undefined && { metricsToken: values['metrics-token'] }),
      ...(values.advertise !== undefined && { advertiseUrl: values.advertise }),
    });
  } catch (e) {
    throw new CliError((e as Error).message, USAGE);
  }
  let platform: Platform;
  try {
    platform = await Platform.start(config);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'EADDRINUSE'
        ? `${config.host}:${config.port} is already in use (another kindling serve?); choose another --port`
        : code === 'EACCES'
          ? `not allowed to listen on ${config.host}:${config.port} or to write ${config.dataDir}`
          : (e as Error).message.split('\n')[0];
    console.error(`kindling serve: ${why}`);
    if (process.env.KINDLING_DEBUG) console.error(e);
    // Parts may have started (sandboxes, timers) before the failure: nothing is serving, so leave now.
    process.exit(1);
  }
  if (platform.root.created) {
    console.log('Created the admin access key (shown once; also saved to the data dir, mode 0600):');
    console.log(`  AWS_ACCESS_KEY_ID=${platform.root.accessKeyId}`);
    console.log(`  AWS_SECRET_ACCESS_KEY=${platform.root.secretAccessKey}`);
  }
  console.log(`kindling: data dir ${config.dataDir}`);
  console.log(`kindling: listening on ${platform.url}`);
  if (config.store !== undefined)
    console.log(`kindling: node ${config.nodeId} advertised at ${config.advertiseUrl ?? platform.url}`);
  // Drained (`kindling nodes drain`): the node finished its work and left the cluster; the process ends.
  platform.onLeft = () => {
    console.log('kindling: drained and left the cluster');
    process.exit(0);
  };
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
