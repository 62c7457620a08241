// Function URLs' configuration (Lambda's FunctionUrlConfig): which function a URL id serves, its auth
// type, CORS and invoke mode. One row per function and qualifier; a URL is bound to the function's id,
// so a function deleted and created again under the same name never inherits an old URL.
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Sql } from '../store/sql.js';

export interface FunctionUrlCors {
  AllowCredentials?: boolean;
  AllowHeaders?: string[];
  AllowMethods?: string[];
  AllowOrigins?: string[];
  ExposeHeaders?: string[];
  MaxAge?: number;
}

export interface FunctionUrl {
  urlId: string;
  tenantId: string;
  functionId: string;
  functionName: string;
  /** '$LATEST' (or an alias name once aliases exist). */
  qualifier: string;
  authType: 'NONE' | 'AWS_IAM';
  cors: FunctionUrlCors | undefined;
  /** RESPONSE_STREAM: a streaming handler's bytes reach the client as written (api/function-url/). */
  invokeMode: 'BUFFERED' | 'RESPONSE_STREAM';
  /** ISO 8601. */
  creationTime: string;
  lastModifiedTime: string;
}

const SCHEMA = [
  `CREATE TABLE function_urls (
     url_id TEXT PRIMARY KEY,
     tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
     function_id TEXT NOT NULL,
     function_name TEXT NOT NULL,
     qualifier TEXT NOT NULL,
     auth_type TEXT NOT NULL,
     cors TEXT,
     invoke_mode TEXT NOT NULL,
     creation_time TEXT NOT NULL,
     last_modified TEXT NOT NULL,
     UNIQUE (function_id, qualifier))`,
  'CREATE INDEX function_urls_fn ON function_urls (tenant_id, function_name)',
];

// Rows read back are checked like API input: state read back is an entry point too.
const Row = z.object({
  url_id: z.string().regex(/^[a-z0-9]{32}$/),
  tenant_id: z.string(),
  function_id: z.string(),
  function_name: z.string(),
  qualifier: z.string(),
  auth_type: z.enum(['NONE', 'AWS_IAM']),
  cors: z.string().nullable(),
  invoke_mode: z.enum(['BUFFERED', 'RESPONSE_STREAM']),
  creation_time: z.string(),
  last_modified: z.string(),
});

const toUrl = (raw: unknown): FunctionUrl => {
  const r = Row.parse(raw);
  return {
    urlId: r.url_id,
    tenantId: r.tenant_id,
    functionId: r.function_id,
    functionName: r.function_name,
    qualifier: r.qualifier,
    authType: r.auth_type,
    cors: r.cors === null ? undefined : (JSON.parse(r.cors) as FunctionUrlCors),
    invokeMode: r.invoke_mode,
    creationTime: r.creation_time,
    lastModifiedTime: r.last_modified,
  };
};

/** Lambda's URL ids: 32 characters of [a-z0-9], unguessable (160 bits of randomness). */
export function newUrlId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let s = '';
  for (const b of randomBytes(32)) s += alphabet[b % 36];
  return s;
}

/**
 * URL requests read their config from memory for this long: a change made through this node applies at
 * once, one made through another node within this (Lambda's own URL changes take seconds to spread).
 */
const CACHE_MS = 1000;
const CACHE_MAX = 10_000;

export class FunctionUrlStore {
  readonly #sql: Sql;
  readonly #ready: Promise<void>;
  /** By URL id, unknown ids included (random ids asked again and again do not reach the store). */
  readonly #cache = new Map<string, { url: FunctionUrl | undefined; until: number }>();

  constructor(sql: Sql) {
    this.#sql = sql;
    this.#ready = sql.migrate('function-urls', SCHEMA);
    this.#ready.catch(() => {});
  }

  async #q(): Promise<Sql> {
    await this.#ready;
    return this.#sql;
  }

  /** The config a request to this URL id meets (from memory for up to CACHE_MS). */
  async byId(urlId: string): Promise<FunctionUrl | undefined> {
    const hit = this.#cache.get(urlId);
    const now = Date.now();
    if (hit !== undefined && hit.until > now) return hit.url;
    const row = await (await this.#q()).get('SELECT * FROM function_urls WHERE url_id = ?', [urlId]);
    const url = row === undefined ? undefined : toUrl(row);
    if (this.#cache.size >= CACHE_MAX) this.#cache.clear();
    this.#cache.set(urlId, { url, until: now + CACHE_MS });
    return url;
  }

  async get(functionId: string, qualifier: string): Promise<FunctionUrl | undefined> {
    const row = await (await this.#q()).get(
      'SELECT * FROM function_urls WHERE function_id = ? AND qualifier = ?',
      [functionId, qualifier],
    );
    return row === undefined ? undefined : toUrl(row);
  }

  async list(functionId: string): Promise<FunctionUrl[]> {
    const rows = await (await this.#q()).all(
      'SELECT * FROM function_urls WHERE function_id = ? ORDER BY qualifier',
      [functionId],
    );
    return rows.map(toUrl);
  }

  /** False when the function already has a URL for this qualifier. */
  async create(u: FunctionUrl): Promise<boolean> {
    const r = await (await this.#q()).run(
      `INSERT INTO function_urls (url_id, tenant_id, function_id, function_name, qualifier, auth_type, cors,
         invoke_mode, creation_time, last_modified)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (function_id, qualifier) DO NOTHING`,
      [
        u.urlId,
        u.tenantId,
        u.functionId,
        u.functionName,
        u.qualifier,
        u.authType,
        u.cors === undefined ? null : JSON.stringify(u.cors),
        u.invokeMode,
        u.creationTime,
        u.lastModifiedTime,
      ],
    );
    this.#cache.delete(u.urlId);
    return r.changes === 1;
  }

  async update(u: FunctionUrl): Promise<boolean> {
    const r = await (await this.#q()).run(
      'UPDATE function_urls SET auth_type = ?, cors = ?, invoke_mode = ?, last_modified = ? WHERE url_id = ?',
      [
        u.authType,
        u.cors === undefined ? null : JSON.stringify(u.cors),
        u.invokeMode,
        u.lastModifiedTime,
        u.urlId,
      ],
    );
    this.#cache.delete(u.urlId);
    return r.changes === 1;
  }

  async delete(urlId: string): Promise<boolean> {
    const r = await (await this.#q()).run('DELETE FROM function_urls WHERE url_id = ?', [urlId]);
    this.#cache.delete(urlId);
    return r.changes === 1;
  }

  /** A deleted function's URLs go with it. */
  async deleteFunction(functionId: string): Promise<void> {
    await (await this.#q()).run('DELETE FROM function_urls WHERE function_id = ?', [functionId]);
    for (const [id, e] of this.#cache) if (e.url?.functionId === functionId) this.#cache.delete(id);
  }
}
