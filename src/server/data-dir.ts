// The data dir: its layout, the modes that let sandboxes (running as other uids) reach what they bind and
// nothing else, and the admin credentials file written there on the first start.
import fs from 'node:fs';
import path from 'node:path';
import type { AccessKey, TenantStore } from '../control/tenants.js';

export interface RootCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  /** Set only on the start that created them: they are printed once. */
  created: boolean;
}

export type DataPaths = ReturnType<typeof dataPaths>;

export const dataPaths = (dataDir: string) => ({
  db: path.join(dataDir, 'kindling.db'),
  credentials: path.join(dataDir, 'credentials'),
  endpoint: path.join(dataDir, 'endpoint'),
  blobs: path.join(dataDir, 'blobs'),
  /** The encrypted blocks under code zips and object bodies (store/blocks/). */
  blocks: path.join(dataDir, 'blocks'),
  codeCache: path.join(dataDir, 'code'),
  envs: path.join(dataDir, 'envs'),
  objects: path.join(dataDir, 'objects'),
  run: path.join(dataDir, 'run'),
  apiSocket: path.join(dataDir, 'run', 'api.sock'),
  /** What the runtimes need from the host, built per content (the AWS SDK's node_modules). */
  runtime: path.join(dataDir, 'runtime'),
  /** Shared volumes' disk images and their mount points (store/volumes/volume-disks.ts). */
  volumes: path.join(dataDir, 'volumes'),
});

/** Creates the data dir's folders with their modes; returns its paths. */
export function prepareDataDir(dataDir: string): DataPaths {
  const paths = dataPaths(dataDir);
  for (const dir of [dataDir, paths.blobs, paths.codeCache, paths.envs, paths.run]) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  }
  // Sandboxes run as unprivileged host uids, and bubblewrap (running as them) resolves the environment
  // dirs it binds by path: the data dir, envs/ and run/ are traversable but not listable by others. All
  // else in the data dir stays owner-only (the database and credentials 0600, blobs/ and code/ 0700).
  for (const dir of [dataDir, paths.envs, paths.run]) fs.chmodSync(dir, 0o711);
  fs.chmodSync(paths.codeCache, 0o700);
  return paths;
}

/** The database file and its journals owner-only (called once the database is open). */
export function restrictDatabaseFiles(paths: DataPaths): void {
  for (const f of [paths.db, `${paths.db}-wal`, `${paths.db}-shm`]) {
    try {
      fs.chmodSync(f, 0o600);
    } catch {
      // not created yet: SQLite gives journals the database file's mode
    }
  }
}

/** A parsed `credentials` file of the data dir (AWS shared-credentials format). */
export function readCredentialsFile(
  file: string,
): { accessKeyId: string; secretAccessKey: string } | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const id = /aws_access_key_id\s*=\s*(\S+)/.exec(text)?.[1];
  const secret = /aws_secret_access_key\s*=\s*(\S+)/.exec(text)?.[1];
  return id && secret ? { accessKeyId: id, secretAccessKey: secret } : undefined;
}

/**
 * The admin tenant and its first key: created on the first start of the platform (several nodes starting
 * at once on an empty database create one), and written to `file` (0600) by every node whose data dir
 * has no credentials file yet, so each node's CLI finds the one admin key.
 */
export async function ensureRootTenant(tenants: TenantStore, file: string): Promise<RootCredentials> {
  const envId = process.env.KINDLING_ROOT_ACCESS_KEY_ID;
  const envSecret = process.env.KINDLING_ROOT_SECRET_ACCESS_KEY;
  const { key, created } = await tenants.ensureAdmin(
    envId && envSecret ? { accessKeyId: envId, secretAccessKey: envSecret } : undefined,
  );
  if (created || !fs.existsSync(file)) writeCredentialsFile(file, key);
  return { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey, created };
}

function writeCredentialsFile(file: string, key: AccessKey): void {
  // Written whole under a temporary name, then renamed: a reader never sees half a file.
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(
    tmp,
    `# Kindling admin credentials (AWS shared-credentials format)\n[default]\naws_access_key_id = ${key.accessKeyId}\naws_secret_access_key = ${key.secretAccessKey}\n`,
    { mode: 0o600 },
  );
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
}
