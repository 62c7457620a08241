// `kindling bucket ls|create|rm|put|get|notify`: the object store from the command line, through the
// ordinary S3 client (path-style), so it works against any Kindling endpoint with a tenant's key.
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetFunctionConfigurationCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketNotificationConfigurationCommand,
  GetObjectCommand,
  type LambdaFunctionConfiguration,
  ListBucketsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutBucketNotificationConfigurationCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { connect, type KindlingClient, parseCommand, sdk } from './client.js';
import { CliError, emit, printTable, USAGE } from './output.js';

const USAGE_TEXT = `kindling bucket <subcommand>
  ls [BUCKET[/PREFIX]]                      list buckets, or the objects of a bucket
  create BUCKET                             create a bucket
  rm BUCKET[/KEY] [--force]                 delete an object, or a bucket (--force: and its objects, every version)
  put BUCKET/KEY FILE|- [--content-type T]  upload a file (or stdin)
  get BUCKET/KEY [FILE|-]                   download an object (to stdout by default)
  notify BUCKET [--function NAME|ARN] [--events E]... [--prefix P] [--suffix S] [--id ID] [--clear]
                                            show, set or clear the bucket's function notification`;

/** `bucket/key/with/slashes` → bucket and key; the key is optional unless required. */
function target(arg: string, needKey: boolean): { bucket: string; key: string } {
  const slash = arg.indexOf('/');
  const bucket = slash < 0 ? arg : arg.slice(0, slash);
  const key = slash < 0 ? '' : arg.slice(slash + 1);
  if (!bucket) throw new CliError(`expected BUCKET${needKey ? '/KEY' : ''}, got '${arg}'`, USAGE);
  if (needKey && !key) throw new CliError(`expected BUCKET/KEY, got '${arg}'`, USAGE);
  return { bucket, key };
}

export async function run(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  const handlers: Record<string, (a: string[]) => Promise<void>> = { ls, create, rm, put, get, notify };
  const handler = sub ? handlers[sub] : undefined;
  if (!handler) {
    if (sub === '--help' || sub === '-h' || sub === undefined) {
      process.stdout.write(`usage: ${USAGE_TEXT}\n`);
      if (sub === undefined) process.exitCode = USAGE;
      return;
    }
    throw new CliError(`unknown subcommand '${sub}'\nusage: ${USAGE_TEXT}`, USAGE);
  }
  await handler(rest);
}

async function withClient(
  common: Parameters<typeof connect>[0],
  fn: (k: KindlingClient) => Promise<void>,
): Promise<void> {
  const k = connect(common);
  try {
    await fn(k);
  } finally {
    k.destroy();
  }
}

async function ls(args: string[]): Promise<void> {
  const { positionals, common } = parseCommand(args, {
    usage: 'kindling bucket ls [BUCKET[/PREFIX]]',
    maxPositionals: 1,
  });
  await withClient(common, async (k) => {
    if (!positionals[0]) {
      const out = await sdk(k.client(S3Client).send(new ListBucketsCommand({})), k);
      const buckets = (out.Buckets ?? []).map((b) => ({
        name: b.Name,
        created: b.CreationDate?.toISOString(),
      }));
      emit(common.json, buckets, () =>
        printTable(buckets, [
          { header: 'NAME', value: (b) => b.name },
          { header: 'CREATED', value: (b) => b.created },
        ]),
      );
      return;
    }
    const { bucket, key: prefix } = target(positionals[0], false);
    const objects: { key: string; size: number; lastModified?: string; etag?: string }[] = [];
    let token: string | undefined;
    do {
      const out = await sdk(
        k.client(S3Client).send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: prefix || undefined,
            ContinuationToken: token,
          }),
        ),
        k,
      );
      for (const o of out.Contents ?? []) {
        objects.push({
          key: o.Key ?? '',
          size: o.Size ?? 0,
          lastModified: o.LastModified?.toISOString(),
          etag: o.ETag,
        });
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    emit(common.json, objects, () =>
      printTable(objects, [
        { header: 'KEY', value: (o) => o.key },
        { header: 'SIZE', value: (o) => o.size, right: true },
        { header: 'LAST MODIFIED', value: (o) => o.lastModified },
      ]),
    );
  });
}

async function create(args: string[]): Promise<void> {
  const { positionals, common } = parseCommand(args, {
    usage: 'kindling bucket create BUCKET',
    minPositionals: 1,
    maxPositionals: 1,
  });
  const bucket = positionals[0]!;
  await withClient(common, async (k) => {
    await sdk(k.client(S3Client).send(new CreateBucketCommand({ Bucket: bucket })), k);
    emit(common.json, { created: bucket }, () => process.stdout.write(`Created bucket ${bucket}\n`));
  });
}

async function rm(args: string[]): Promise<void> {
  const { values, positionals, common } = parseCommand(args, {
    usage: 'kindling bucket rm BUCKET[/KEY] [--force]',
    options: { force: { type: 'boolean' } },
    minPositionals: 1,
    maxPositionals: 1,
  });
  const { bucket, key } = target(positionals[0]!, false);
  await withClient(common, async (k) => {
    if (key) {
      await sdk(k.client(S3Client).send(new DeleteObjectCommand({ Bucket: bucket, Key: key })), k);
      emit(common.json, { deleted: `${bucket}/${key}` }, () =>
        process.stdout.write(`Deleted ${bucket}/${key}\n`),
      );
      return;
    }
    if (values.force) {
      // Every version and delete marker (a bucket never versioned lists its objects as `null` versions):
      // a versioned bucket is empty only without them.
      for (;;) {
        const out = await sdk(k.client(S3Client).send(new ListObjectVersionsCommand({ Bucket: bucket })), k);
        const keys = [...(out.Versions ?? []), ...(out.DeleteMarkers ?? [])].map((o) => ({
          Key: o.Key!,
          VersionId: o.VersionId,
        }));
        if (keys.length === 0) break;
        await sdk(
          k
            .client(S3Client)
            .send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } })),
          k,
        );
      }
    }
    await sdk(k.client(S3Client).send(new DeleteBucketCommand({ Bucket: bucket })), k);
    emit(common.json, { deleted: bucket }, () => process.stdout.write(`Deleted bucket ${bucket}\n`));
  });
}

async function put(args: string[]): Promise<void> {
  const { values, positionals, common } = parseCommand(args, {
    usage: 'kindling bucket put BUCKET/KEY FILE|- [--content-type TYPE]',
    options: { 'content-type': { type: 'string' } },
    minPositionals: 2,
    maxPositionals: 2,
  });
  const { bucket, key } = target(positionals[0]!, true);
  const file = positionals[1]!;
  let body: Buffer | fs.ReadStream;
  let length: number;
  if (file === '-') {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin as AsyncIterable<Buffer>) chunks.push(c);
    body = Buffer.concat(chunks);
    length = body.length;
  } else {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(file);
    } catch {
      throw new CliError(`cannot read ${file}: no such file`);
    }
    if (!stat.isFile()) throw new CliError(`${file} is not a file`);
    // Streamed: a large file never sits in memory.
    body = fs.createReadStream(file);
    length = stat.size;
  }
  await withClient(common, async (k) => {
    const out = await sdk(
      k.client(S3Client).send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: body,
          ContentLength: length,
          ContentType: values['content-type'],
        }),
      ),
      k,
    );
    emit(common.json, { bucket, key, size: length, etag: out.ETag }, () =>
      process.stdout.write(`Uploaded ${bucket}/${key} (${length} bytes, ETag ${out.ETag})\n`),
    );
  });
}

async function get(args: string[]): Promise<void> {
  const { positionals, common } = parseCommand(args, {
    usage: 'kindling bucket get BUCKET/KEY [FILE|-]',
    minPositionals: 1,
    maxPositionals: 2,
  });
  const { bucket, key } = target(positionals[0]!, true);
  const file = positionals[1] ?? '-';
  await withClient(common, async (k) => {
    const out = await sdk(k.client(S3Client).send(new GetObjectCommand({ Bucket: bucket, Key: key })), k);
    const body = out.Body as Readable;
    if (file === '-') {
      await pipeline(body, process.stdout, { end: false });
      return;
    }
    // Written beside the target first, so an interrupted download does not leave half a file.
    const tmp = `${file}.kindling-partial`;
    try {
      await pipeline(body, fs.createWriteStream(tmp));
      fs.renameSync(tmp, file);
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw new CliError(`cannot write ${file}: ${(e as Error).message}`);
    }
    if (common.json) emit(true, { bucket, key, file, size: out.ContentLength }, () => {});
  });
}

async function notify(args: string[]): Promise<void> {
  const { values, positionals, common } = parseCommand(args, {
    usage:
      'kindling bucket notify BUCKET [--function NAME|ARN] [--events EVENT]... [--prefix P] [--suffix S] [--id ID] [--clear]',
    options: {
      function: { type: 'string' },
      events: { type: 'string', multiple: true },
      prefix: { type: 'string' },
      suffix: { type: 'string' },
      id: { type: 'string' },
      clear: { type: 'boolean' },
    },
    minPositionals: 1,
    maxPositionals: 1,
  });
  const bucket = positionals[0]!;
  if (values.clear && values.function) throw new CliError('--clear and --function do not go together', USAGE);
  await withClient(common, async (k) => {
    if (values.clear) {
      await sdk(
        k
          .client(S3Client)
          .send(
            new PutBucketNotificationConfigurationCommand({ Bucket: bucket, NotificationConfiguration: {} }),
          ),
        k,
      );
      emit(common.json, { bucket, cleared: true }, () =>
        process.stdout.write(`Cleared notifications of ${bucket}\n`),
      );
      return;
    }
    if (values.function) {
      let arn = values.function;
      if (!arn.startsWith('arn:')) {
        const fn = await sdk(
          k.client(LambdaClient).send(new GetFunctionConfigurationCommand({ FunctionName: arn })),
          k,
        );
        arn = fn.FunctionArn!;
      }
      const rules = [
        ...(values.prefix !== undefined ? [{ Name: 'prefix' as const, Value: values.prefix }] : []),
        ...(values.suffix !== undefined ? [{ Name: 'suffix' as const, Value: values.suffix }] : []),
      ];
      const config: LambdaFunctionConfiguration = {
        Id: values.id,
        LambdaFunctionArn: arn,
        Events: (values.events?.length
          ? values.events
          : ['s3:ObjectCreated:*']) as LambdaFunctionConfiguration['Events'],
        ...(rules.length > 0 && { Filter: { Key: { FilterRules: rules } } }),
      };
      await sdk(
        k.client(S3Client).send(
          new PutBucketNotificationConfigurationCommand({
            Bucket: bucket,
            NotificationConfiguration: { LambdaFunctionConfigurations: [config] },
          }),
        ),
        k,
      );
    }
    const out = await sdk(
      k.client(S3Client).send(new GetBucketNotificationConfigurationCommand({ Bucket: bucket })),
      k,
    );
    const rows = (out.LambdaFunctionConfigurations ?? []).map((c) => ({
      id: c.Id,
      function: c.LambdaFunctionArn,
      events: c.Events ?? [],
      filter: (c.Filter?.Key?.FilterRules ?? []).map((r) => `${r.Name}=${r.Value}`).join(' '),
    }));
    emit(common.json, rows, () =>
      printTable(rows, [
        { header: 'ID', value: (r) => r.id },
        { header: 'FUNCTION', value: (r) => r.function },
        { header: 'EVENTS', value: (r) => r.events.join(',') },
        { header: 'FILTER', value: (r) => r.filter },
      ]),
    );
  });
}
