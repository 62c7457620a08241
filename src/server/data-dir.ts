// The data dir: its layout, the modes that let sandboxes (running as other uids) reach what they bind and
// nothing else, and the admin credentials file written there on the first start.
import fs from 'node:fs';
import path from 'node:path';
import type { AccessKey, Tenant, TenantStore } from '../control/tenants.js';

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
  codeCache: path.join(dataDir, 'code'),
  envs: path.join(dataDir, 'envs'),
  objects: path.join(dataDir, 'objects'),
  run: path.join(dataDir, 'run'),
  apiSocket: path.join(dataDir, 'run', 'api.sock'),
  /** What the runtimes need from the host, built per content (the AWS SDK's node_modules). */
  runtime: path.join(dataDir, 'runtime'),
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

/** The admin tenant and its first key, created (and written to `file`, 0600) on the first start. */
export function ensureRootTenant(tenants: TenantStore, file: string): RootCredentials {
  const existing = tenants.list().find((t) => t.isAdmin);
  if (existing) {
    const key = tenants.listKeys(existing.id)[0];
    if (key) return { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey, created: false };
  }
  const admin: Tenant = existing ?? tenants.create('admin', { isAdmin: true });
  const envId = process.env.KINDLING_ROOT_ACCESS_KEY_ID;
  const envSecret = process.env.KINDLING_ROOT_SECRET_ACCESS_KEY;
  const key: AccessKey = tenants.createKey(
    admin.id,
    envId && envSecret ? { accessKeyId: envId, secretAccessKey: envSecret } : undefined,
  );
  fs.writeFileSync(
    file,
    `# Kindling admin credentials (AWS shared-credentials format)\n[default]\naws_access_key_id = ${key.accessKeyId}\naws_secret_access_key = ${key.secretAccessKey}\n`,
    { mode: 0o600 },
  );
  fs.chmodSync(file, 0o600);
  return { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey, created: true };
}
