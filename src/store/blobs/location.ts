// `--blobs` / KINDLING_BLOBS: where the blobs every node shares live. Validated once at start, so a typo
// fails the start with one clear line instead of leaving a node writing blobs nobody else can see.
import fs from 'node:fs';
import path from 'node:path';
import type { BlobStore } from './blob-store.js';
import { DirBlobStore } from './dir-blob-store.js';
import { S3BlobStore } from './s3-blob-store.js';

export type BlobsLocation =
  | { kind: 'dir'; dir: string }
  | {
      kind: 's3';
      bucket: string;
      /** '' or ending in '/'. */
      prefix: string;
      endpoint: string | undefined;
      region: string;
      credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
    };

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const SEGMENT = /^[0-9A-Za-z][0-9A-Za-z._-]*$/;

/** Parses and checks a `--blobs` value; throws an Error whose message is the one line to print. */
export function parseBlobsLocation(value: string, env: NodeJS.ProcessEnv, dataDir: string): BlobsLocation {
  if (value.trim() === '') throw new Error('--blobs is empty: give a directory or s3://BUCKET[/prefix]');
  if (/[\0\r\n]/.test(value)) throw new Error('--blobs contains a control character');
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(value)?.[1]?.toLowerCase();
  if (scheme === undefined) return { kind: 'dir', dir: checkDir(value, dataDir) };
  if (scheme !== 's3') {
    throw new Error(
      `unsupported --blobs ${JSON.stringify(scheme)}:// location: use a directory or s3://BUCKET[/prefix] (the endpoint goes in KINDLING_BLOBS_ENDPOINT)`,
    );
  }
  const rest = value.slice('s3://'.length);
  if (/[@?#%\\]/.test(rest)) {
    throw new Error(
      '--blobs s3:// takes a bucket and an optional prefix only: credentials go in KINDLING_BLOBS_ACCESS_KEY_ID / KINDLING_BLOBS_SECRET_ACCESS_KEY, the endpoint in KINDLING_BLOBS_ENDPOINT',
    );
  }
  const [bucket = '', ...parts] = rest.split('/');
  if (!BUCKET.test(bucket) || bucket.includes('..') || /^\d+\.\d+\.\d+\.\d+$/.test(bucket))
    throw new Error(`--blobs: ${JSON.stringify(bucket)} is not a valid S3 bucket name`);
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  for (const p of parts) {
    if (!SEGMENT.test(p))
      throw new Error(`--blobs: the key prefix segment ${JSON.stringify(p)} is not allowed`);
  }
  const endpoint = env.KINDLING_BLOBS_ENDPOINT || undefined;
  if (endpoint !== undefined) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw new Error(`KINDLING_BLOBS_ENDPOINT ${JSON.stringify(endpoint)} is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new Error('KINDLING_BLOBS_ENDPOINT must be an http:// or https:// URL');
    if (url.username || url.password)
      throw new Error('KINDLING_BLOBS_ENDPOINT must not carry credentials: use KINDLING_BLOBS_ACCESS_KEY_ID');
  }
  const keyId = env.KINDLING_BLOBS_ACCESS_KEY_ID || undefined;
  const secret = env.KINDLING_BLOBS_SECRET_ACCESS_KEY || undefined;
  if ((keyId === undefined) !== (secret === undefined))
    throw new Error('set both KINDLING_BLOBS_ACCESS_KEY_ID and KINDLING_BLOBS_SECRET_ACCESS_KEY, or neither');
  return {
    kind: 's3',
    bucket,
    prefix: parts.length > 0 ? `${parts.join('/')}/` : '',
    endpoint,
    region: env.KINDLING_BLOBS_REGION || env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
    credentials:
      keyId !== undefined && secret !== undefined
        ? {
            accessKeyId: keyId,
            secretAccessKey: secret,
            ...(env.KINDLING_BLOBS_SESSION_TOKEN && { sessionToken: env.KINDLING_BLOBS_SESSION_TOKEN }),
          }
        : undefined,
  };
}

function checkDir(value: string, dataDir: string): string {
  const dir = path.resolve(value);
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    // Created silently, a mistyped shared path would leave this node with blobs no other node sees.
    throw new Error(`--blobs directory ${dir} does not exist (create it, shared by every node, first)`);
  }
  if (!st.isDirectory()) throw new Error(`--blobs ${dir} is not a directory`);
  const data = path.resolve(dataDir);
  // The data dir is one node's private state; blobs there are what --blobs exists to move out.
  if (dir === data || dir.startsWith(data + path.sep))
    throw new Error(`--blobs ${dir} must not be the data dir ${data} or inside it`);
  try {
    fs.accessSync(dir, fs.constants.R_OK | fs.constants.W_OK | fs.constants.X_OK);
  } catch {
    throw new Error(`--blobs directory ${dir} is not writable by this user`);
  }
  return dir;
}

/** The blob stores of code zips and object bodies (their manifests), and of the blocks under both. */
export interface BlobStores {
  code: BlobStore;
  objects: BlobStore;
  blocks: BlobStore;
  /** Other nodes write here too: the sweeper leaves young unreferenced blobs alone. */
  shared: boolean;
}

export function openBlobStores(
  location: BlobsLocation | undefined,
  local: { codeBlobs: string; objects: string; blocks: string; spool: string },
): BlobStores {
  if (location === undefined) {
    // Today's layout in the data dir, so an existing data dir keeps its blobs.
    return {
      code: new DirBlobStore(local.codeBlobs),
      objects: new DirBlobStore(path.join(local.objects, 'data'), path.join(local.objects, 'tmp')),
      blocks: new DirBlobStore(local.blocks),
      shared: false,
    };
  }
  if (location.kind === 'dir') {
    return {
      code: new DirBlobStore(path.join(location.dir, 'code')),
      objects: new DirBlobStore(path.join(location.dir, 'objects')),
      blocks: new DirBlobStore(path.join(location.dir, 'blocks')),
      shared: true,
    };
  }
  const s3 = (sub: string) =>
    new S3BlobStore({
      bucket: location.bucket,
      prefix: `${location.prefix}${sub}/`,
      endpoint: location.endpoint,
      region: location.region,
      credentials: location.credentials,
      spoolDir: path.join(local.spool, sub),
    });
  return { code: s3('code'), objects: s3('objects'), blocks: s3('blocks'), shared: true };
}
