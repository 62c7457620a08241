// Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, another Kindling), under an optional key
// prefix. A PUT is atomic on S3, so a streamed body is first spooled to a local temp file: S3 wants its
// length up front, and a failed upload then leaves nothing behind.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import {
  type BlobBody,
  type BlobInfo,
  type BlobReader,
  type BlobStore,
  checkBlobKey,
  getBlob,
} from './blob-store.js';

export interface S3BlobStoreOptions {
  bucket: string;
  /** Key prefix inside the bucket, '' or ending in '/'. */
  prefix: string;
  /** An S3-compatible service's URL (MinIO, Ceph); unset: AWS S3 in `region`. */
  endpoint: string | undefined;
  region: string;
  /** Unset: the AWS SDK's default chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, profiles, roles). */
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
  /** Local directory for spooling streamed bodies before their PUT. */
  spoolDir: string;
}

const notFound = (e: unknown): boolean => {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  return err.name === 'NotFound' || err.name === 'NoSuchKey' || err.$metadata?.httpStatusCode === 404;
};

export class S3BlobStore implements BlobStore {
  readonly where: string;
  readonly #s3: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #spool: string;

  constructor(o: S3BlobStoreOptions) {
    this.#bucket = o.bucket;
    this.#prefix = o.prefix;
    this.#spool = o.spoolDir;
    this.where = `s3://${o.bucket}/${o.prefix}`;
    fs.mkdirSync(this.#spool, { recursive: true, mode: 0o700 });
    this.#s3 = new S3Client({
      region: o.region,
      ...(o.endpoint !== undefined && { endpoint: o.endpoint }),
      // Services other than AWS rarely have per-bucket DNS names; path-style works on all of them.
      forcePathStyle: o.endpoint !== undefined,
      ...(o.credentials && { credentials: o.credentials }),
      // Older MinIO and Ceph releases refuse the flexible checksums newer SDKs add by default.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  #key(key: string): string {
    checkBlobKey(key);
    return this.#prefix + key;
  }

  async put(key: string, body: BlobBody): Promise<void> {
    const Key = this.#key(key);
    if (Buffer.isBuffer(body) || Array.isArray(body)) {
      const Body = Buffer.isBuffer(body) ? body : Buffer.concat(body);
      await this.#s3.send(new PutObjectCommand({ Bucket: this.#bucket, Key, Body }));
      return;
    }
    const tmp = path.join(this.#spool, `${randomBytes(12).toString('hex')}.tmp`);
    try {
      await pipeline(body, fs.createWriteStream(tmp, { flags: 'wx', mode: 0o600 }));
      const { size } = await fsp.stat(tmp);
      await this.#s3.send(
        new PutObjectCommand({
          Bucket: this.#bucket,
          Key,
          Body: fs.createReadStream(tmp),
          ContentLength: size,
        }),
      );
    } finally {
      await fsp.rm(tmp, { force: true });
    }
  }

  async open(key: string): Promise<BlobReader | undefined> {
    const Key = this.#key(key);
    let size: number;
    try {
      const head = await this.#s3.send(new HeadObjectCommand({ Bucket: this.#bucket, Key }));
      size = head.ContentLength ?? 0;
    } catch (e) {
      if (notFound(e)) return undefined;
      throw e;
    }
    const s3 = this.#s3;
    const Bucket = this.#bucket;
    return {
      size,
      read: (range) => {
        const start = range?.start ?? 0;
        const end = range?.end ?? size - 1;
        if (end < start) return Readable.from([]);
        // Lazily: the GET starts when the caller reads. Its errors (the blob deleted since the HEAD)
        // end the stream with an error rather than with fewer bytes.
        return Readable.from(
          (async function* () {
            const out = await s3.send(new GetObjectCommand({ Bucket, Key, Range: `bytes=${start}-${end}` }));
            if (!out.Body) throw new Error(`no body for ${Key}`);
            yield* out.Body as AsyncIterable<Uint8Array>;
          })(),
        );
      },
      close: () => {},
    };
  }

  get(key: string): Promise<Readable> {
    return getBlob(this, key);
  }

  async has(key: string): Promise<boolean> {
    try {
      await this.#s3.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#key(key) }));
      return true;
    } catch (e) {
      if (notFound(e)) return false;
      throw e;
    }
  }

  async delete(key: string): Promise<void> {
    await this.#s3.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#key(key) }));
  }

  async *list(prefix = ''): AsyncIterable<BlobInfo> {
    let token: string | undefined;
    do {
      const page = await this.#s3.send(
        new ListObjectsV2Command({
          Bucket: this.#bucket,
          Prefix: this.#prefix + prefix,
          ...(token !== undefined && { ContinuationToken: token }),
        }),
      );
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined) continue;
        yield { key: o.Key.slice(this.#prefix.length), modifiedMs: o.LastModified?.getTime() ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  /** Spooled bodies are this node's own: any left at start are from a write that died with the node. */
  async sweepTemp(): Promise<number> {
    let n = 0;
    for (const name of await fsp.readdir(this.#spool)) {
      await fsp.rm(path.join(this.#spool, name), { force: true, recursive: true });
      n++;
    }
    return n;
  }

  async close(): Promise<void> {
    this.#s3.destroy();
  }
}
