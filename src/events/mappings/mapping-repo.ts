// Persistence of event source mappings: one row per mapping, the mapping itself as JSON, re-validated
// when read back (restart recovery is an entry point, DESIGN.md); and the leases that let one node at a
// time poll each mapping.
import { z } from 'zod';
import type { Sql, SqlExecutor } from '../../store/sql.js';
import type { Mapping } from './types.js';

const SCHEMA = [
  `CREATE TABLE event_source_mappings (
     uuid TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, function_arn TEXT, source_key TEXT NOT NULL,
     spec TEXT NOT NULL, created_at INTEGER NOT NULL)`,
  'CREATE INDEX event_source_mappings_tenant ON event_source_mappings (tenant_id, created_at)',
  // Which node polls a mapping, until when (store clock). No foreign key: a lease outliving its mapping
  // for one renewal period is harmless, and a node renews without touching the mapping row.
  `CREATE TABLE event_source_mapping_leases (
     uuid TEXT PRIMARY KEY, node_id TEXT NOT NULL, lease_until INTEGER NOT NULL)`,
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
  readonly #sql: Sql;
  readonly #ready: Promise<void>;

  constructor(sql: Sql) {
    this.#sql = sql;
    this.#ready = sql.migrate('event-source-mappings', SCHEMA);
    // Each method awaits #ready and sees the failure; this only keeps it from being reported unhandled.
    this.#ready.catch(() => {});
  }

  get sql(): Sql {
    return this.#sql;
  }

  ready(): Promise<void> {
    return this.#ready;
  }

  async #q(): Promise<Sql> {
    await this.#ready;
    return this.#sql;
  }

  async insert(m: Mapping): Promise<void> {
    const q = await this.#q();
    await q.run(
      'INSERT INTO event_source_mappings (uuid, tenant_id, function_arn, source_key, spec, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      [m.uuid, m.tenantId, m.functionArn, sourceKey(m), JSON.stringify(m), Date.now()],
    );
  }

  async save(m: Mapping, tx?: SqlExecutor): Promise<void> {
    const q = tx ?? (await this.#q());
    await q.run(
      'UPDATE event_source_mappings SET function_arn = ?, source_key = ?, spec = ? WHERE uuid = ?',
      [m.functionArn, sourceKey(m), JSON.stringify(m), m.uuid],
    );
  }

  /**
   * Read-modify-write of one mapping in a transaction, so a poller's state change on one node cannot undo
   * an update made through another. `change` returns false to leave the row as it is.
   */
  async update(uuid: string, change: (m: Mapping) => boolean): Promise<Mapping | undefined> {
    const q = await this.#q();
    return q.tx(async (tx) => {
      const row = await tx.get<{ spec: string }>(
        'SELECT spec FROM event_source_mappings WHERE uuid = ? FOR UPDATE',
        [uuid],
      );
      const m = row ? parse(row.spec) : undefined;
      if (!m || !change(m)) return m;
      await this.save(m, tx);
      return m;
    });
  }

  async delete(uuid: string): Promise<void> {
    const q = await this.#q();
    await q.run('DELETE FROM event_source_mappings WHERE uuid = ?', [uuid]);
    await q.run('DELETE FROM event_source_mapping_leases WHERE uuid = ?', [uuid]);
  }

  /** Unscoped: callers check the tenant (the API does, against the caller). */
  async get(uuid: string): Promise<Mapping | undefined> {
    const q = await this.#q();
    const row = await q.get<{ spec: string }>('SELECT spec FROM event_source_mappings WHERE uuid = ?', [
      uuid,
    ]);
    return row ? parse(row.spec) : undefined;
  }

  async listByTenant(tenantId: string): Promise<Mapping[]> {
    const q = await this.#q();
    const rows = await q.all<{ spec: string }>(
      'SELECT spec FROM event_source_mappings WHERE tenant_id = ? ORDER BY created_at, uuid',
      [tenantId],
    );
    return rows.flatMap((r) => parse(r.spec) ?? []);
  }

  async listAll(): Promise<Mapping[]> {
    const q = await this.#q();
    const rows = await q.all<{ spec: string }>(
      'SELECT spec FROM event_source_mappings ORDER BY created_at, uuid',
    );
    return rows.flatMap((r) => parse(r.spec) ?? []);
  }

  /**
   * Takes or renews the lease on a mapping for `node` until `until`: true when the node holds it now (it
   * held it already, or nobody did, or the holder's lease ran out before `now`).
   */
  async acquireLease(uuid: string, node: string, now: number, until: number): Promise<boolean> {
    const q = await this.#q();
    const r = await q.run(
      `INSERT INTO event_source_mapping_leases (uuid, node_id, lease_until) VALUES (?, ?, ?)
       ON CONFLICT (uuid) DO UPDATE SET node_id = excluded.node_id, lease_until = excluded.lease_until
        WHERE event_source_mapping_leases.node_id = excluded.node_id OR event_source_mapping_leases.lease_until < ?`,
      [uuid, node, until, now],
    );
    return r.changes === 1;
  }

  /** Gives a lease back (the node stops polling the mapping), so another node takes it at once. */
  async releaseLease(uuid: string, node: string): Promise<void> {
    const q = await this.#q();
    await q.run('DELETE FROM event_source_mapping_leases WHERE uuid = ? AND node_id = ?', [uuid, node]);
  }

  /** The node polling a mapping now, if any. */
  async leaseHolder(uuid: string, now: number): Promise<string | undefined> {
    const q = await this.#q();
    const r = await q.get<{ node_id: string }>(
      'SELECT node_id FROM event_source_mapping_leases WHERE uuid = ? AND lease_until >= ?',
      [uuid, now],
    );
    return r?.node_id;
  }

  /** How many presence leases (uuid starting with `prefix`) are live: the nodes sharing the mappings. */
  async liveNodes(prefix: string, now: number): Promise<number> {
    const q = await this.#q();
    const r = await q.get<{ n: number }>(
      'SELECT COUNT(*) AS n FROM event_source_mapping_leases WHERE substr(uuid, 1, length(?)) = ? AND lease_until >= ?',
      [prefix, prefix, now],
    );
    return r?.n ?? 0;
  }

  /** One node only (SQLite): leases of a killed process are void at once, not after running out. */
  async clearLeases(): Promise<void> {
    const q = await this.#q();
    await q.run('DELETE FROM event_source_mapping_leases');
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
