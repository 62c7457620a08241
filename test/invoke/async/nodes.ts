// Dispatchers as nodes for the dispatcher and cluster tests: each over its own connection to one store
// (PostgreSQL: its own PostgresSql pool to the test database; SQLite: the one file's SqliteSql, one node by
// construction), with its own nodeId, a fake sync path the test drives, and a way to die without a goodbye
// (every store call from then on never returns, as if the process were SIGKILLed).
import type { FunctionRecord } from '../../../src/control/functions.js';
import type { Tenant } from '../../../src/control/tenants.js';
import { LambdaErrors } from '../../../src/errors.js';
import type { QueueEngine } from '../../../src/events/queue/types.js';
import { AsyncDispatcher } from '../../../src/invoke/async-dispatcher.js';
import { AsyncEventStore } from '../../../src/invoke/async-queue.js';
import { EventInvokeConfigStore } from '../../../src/invoke/event-invoke-config.js';
import type { SyncInvokeResult } from '../../../src/invoke/types.js';
import { PostgresSql } from '../../../src/store/postgres.js';
import type { Sql } from '../../../src/store/sql.js';
import type { TestSql } from '../../helpers/store.js';

export const tenant = {
  id: 'tenant-1',
  name: 't1',
  accountId: '123456789012',
  concurrencyLimit: undefined,
} as unknown as Tenant;

export function record(name: string, reserved: number | null = null): FunctionRecord {
  return {
    id: name,
    tenantId: tenant.id,
    accountId: tenant.accountId,
    name,
    arn: `arn:aws:lambda:us-east-1:${tenant.accountId}:function:${name}`,
    reservedConcurrency: reserved,
    deadLetterTargetArn: undefined,
  } as unknown as FunctionRecord;
}

/**
 * A fake sync path: each run waits until the test releases it, unless `auto` (then it returns at once);
 * `failFirst` makes the first run of each request a function error. Every node's runs are recorded in `log`.
 */
export class FakeService {
  running = 0;
  maxRunning = 0;
  runs = 0;
  throttleNext = 0;
  auto = false;
  failFirst = false;
  readonly waiting: { resolve: () => void; requestId: string }[] = [];
  constructor(
    readonly log: string[] = [],
    readonly reserved: () => number | null = () => null,
  ) {}
  resolve(_t: Tenant, ref: string): FunctionRecord {
    return record(ref.split(':').pop() ?? ref, this.reserved());
  }
  async run(
    _t: Tenant,
    _rec: FunctionRecord,
    payload: Buffer,
    opts: { requestId?: string },
  ): Promise<SyncInvokeResult> {
    if (this.throttleNext > 0) {
      this.throttleNext--;
      throw LambdaErrors.tooManyRequests();
    }
    const requestId = opts.requestId ?? '';
    const first = !this.log.includes(requestId);
    this.log.push(requestId);
    this.runs++;
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    if (!this.auto) await new Promise<void>((resolve) => this.waiting.push({ resolve, requestId }));
    this.running--;
    const failed = this.failFirst && first;
    return {
      requestId,
      payload: failed ? Buffer.from('{"errorMessage":"first run fails"}') : payload,
      ...(failed && { functionError: 'Unhandled', errorType: 'Error' }),
      log: '',
      durationMs: 1,
      billedDurationMs: 1,
      maxMemoryUsedMB: 1,
      start: 'warm',
      functionArn: record('f').arn,
      executedVersion: '$LATEST',
    } as SyncInvokeResult;
  }
  releaseAll(): void {
    for (const w of this.waiting.splice(0)) w.resolve();
  }
}

/** No test here has a queue destination: any use of the engine is a failure. */
const noQueues = new Proxy({} as QueueEngine, {
  get(_t, name) {
    throw new Error(`the queue engine is not part of this test (${String(name)})`);
  },
});

/** A store connection that can die: after kill(), no call on it ever settles (nor does any begun after). */
function mortal(sql: Sql): { sql: Sql; kill(): void } {
  let dead = false;
  const never = new Promise<never>(() => {});
  const proxy = new Proxy(sql, {
    get(target, name, receiver) {
      const v = Reflect.get(target, name, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (dead) return never;
        const r = (v as (...a: unknown[]) => unknown).apply(target, args);
        // A call in flight when the node dies never answers either.
        return r instanceof Promise ? r.then((x) => (dead ? never : x)) : r;
      };
    },
  });
  return {
    sql: proxy,
    kill: () => {
      dead = true;
    },
  };
}

export interface Node {
  d: AsyncDispatcher;
  svc: FakeService;
  store: AsyncEventStore;
  nodeId: string;
  /** Dies without a goodbye: no release, no renewal, no completion. */
  kill(): void;
  close(): Promise<void>;
}

export interface NodeOptions {
  nodeId: string;
  leaseMs?: number;
  tenantConcurrency?: number;
  /** This node's wall clock (skewed in the clock-skew test). */
  clock?: () => number;
  log?: string[];
  reserved?: () => number | null;
  retryBaseMs?: number;
}

/** A node on the test store: its own connection on PostgreSQL, the shared SqliteSql on SQLite. */
export async function node(base: TestSql, o: NodeOptions): Promise<Node> {
  const own = base.url ? await PostgresSql.open({ url: base.url, max: 4 }) : undefined;
  const m = mortal(own ?? base.sql);
  const svc = new FakeService(o.log, o.reserved);
  const store = new AsyncEventStore(m.sql);
  const d = new AsyncDispatcher({
    config: {
      retryBaseMs: o.retryBaseMs ?? 10,
      tenantConcurrency: o.tenantConcurrency ?? 10,
      nodeId: o.nodeId,
      leaseMs: o.leaseMs ?? 30_000,
    },
    sql: m.sql,
    store,
    configs: new EventInvokeConfigStore(m.sql),
    tenants: { get: (id) => (id === tenant.id ? tenant : undefined) },
    functions: { get: (_t, name) => record(name, svc.reserved()) },
    service: svc,
    queues: noQueues,
    ...(o.clock && { clock: o.clock }),
  });
  let killed = false;
  return {
    d,
    svc,
    store,
    nodeId: o.nodeId,
    kill() {
      killed = true;
      m.kill();
    },
    async close() {
      if (!killed) await d.stop(Date.now());
      svc.releaseAll();
      await own?.close();
    },
  };
}
