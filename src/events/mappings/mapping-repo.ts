// Persistence of event source mappings: one row per mapping, the mapping itself as JSON, re-validated
// when read back (restart recovery is an entry point, DESIGN.md).
import { z } from 'zod';
import { type Db, migrate } from '../../store/database.js';
import type { Mapping } from './types.js';

const SCHEMA = [
  `CREATE TABLE event_source_mappings (
     uuid TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, function_arn TEXT, source_key TEXT NOT NULL,
     spec TEXT NOT NULL, created_at INTEGER NOT NULL)`,
  'CREATE INDEX event_source_mappings_tenant ON event_source_mappings (tenant_id, created_at)',
];

const stored = z.object({
  uuid: z.string(),
  tenantId: z.string(),
  accountId: z.string(),
  source: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('sqs'), queueArn: z.string() }),
    z.object({ kind: z.literal('redis'), urls: z.array(z.string()).min(1), stream: z.string().min(1) }),
  ]),
  functionArn: z.string().nullable(),
  rpc: z.boolean(),
  batchSize: z.number().int(),
  maximumBatchingWindowInSeconds: z.number().int(),
  enabled: z.boolean(),
  state: z.enum(['Creating', 'Enabling', 'Enabled', 'Disabling', 'Disabled', 'Updating', 'Deleting']),
  stateTransitionReason: z.string(),
  reportBatchItemFailures: z.boolean(),
  maximumConcurrency: z.number().int().nullable(),
  maximumRetryAttempts: z.number().int().nullable(),
  startingPosition: z.enum(['TRIM_HORIZON', 'LATEST']).optional(),
  tags: z.record(z.string(), z.string()),
  lastModified: z.number(),
  lastProcessingResult: z.string(),
});

/** A stable key for "the same event source", used to filter ListEventSourceMappings by EventSourceArn. */
export function sourceKey(m: Pick<Mapping, 'source'>): string {
  return m.source.kind === 'sqs' ? m.source.queueArn : `${m.source.urls[0]}/${m.source.stream}`;
}

export class MappingStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
    migrate(db, 'event-source-mappings', SCHEMA);
  }

  insert(m: Mapping): void {
    this.#db
      .prepare(
        'INSERT INTO event_source_mappings (uuid, tenant_id, function_arn, source_key, spec, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      )
      .run(m.uuid, m.tenantId, m.functionArn, sourceKey(m), JSON.stringify(m), Date.now());
  }

  save(m: Mapping): void {
    this.#db
      .prepare('UPDATE event_source_mappings SET function_arn = ?, source_key = ?, spec = ? WHERE uuid = ?')
      .run(m.functionArn, sourceKey(m), JSON.stringify(m), m.uuid);
  }

  delete(uuid: string): void {
    this.#db.prepare('DELETE FROM event_source_mappings WHERE uuid = ?').run(uuid);
  }

  /** Unscoped: callers check the tenant (the API does, against the caller). */
  get(uuid: string): Mapping | undefined {
    const row = this.#db.prepare('SELECT spec FROM event_source_mappings WHERE uuid = ?').get(uuid) as
      | { spec: string }
      | undefined;
    return row ? parse(row.spec) : undefined;
  }

  listByTenant(tenantId: string): Mapping[] {
    const rows = this.#db
      .prepare('SELECT spec FROM event_source_mappings WHERE tenant_id = ? ORDER BY created_at, uuid')
      .all(tenantId) as { spec: string }[];
    return rows.flatMap((r) => parse(r.spec) ?? []);
  }

  listAll(): Mapping[] {
    const rows = this.#db.prepare('SELECT spec FROM event_source_mappings ORDER BY created_at').all() as {
      spec: string;
    }[];
    return rows.flatMap((r) => parse(r.spec) ?? []);
  }
}

function parse(spec: string): Mapping | undefined {
  let json: unknown;
  try {
    json = JSON.parse(spec);
  } catch {
    return undefined;
  }
  const r = stored.safeParse(json);
  // A row this version cannot read is skipped rather than taking the whole platform down at start.
  if (!r.success) {
    console.error('kindling: skipping unreadable event source mapping:', r.error.message);
    return undefined;
  }
  return r.data;
}
