// `npm run bench -- --store postgres`: the store comparison and the cluster figures.
//   - the event figures (async accept, queue → function throughput, SendMessage → handler latency) on
//     SQLite and on PostgreSQL, in the same run on the same machine;
//   - warm Invoke through a node that forwards to the node holding the warm environment, beside the same
//     Invoke sent straight to that node (the difference is the forwarding cost);
//   - the kill test: three nodes on one PostgreSQL database and a shared blobs dir, 10,000 async invokes
//     and 10,000 queue messages, one node SIGKILLed half-way; counts accepted, executed (distinct ids
//     reported by the handlers) and lost (accepted, never executed).
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { readCredentialsFile } from '../src/server/data-dir.js';
import { kindlingEventFigures, sqs, sqsHeaders } from './events.js';
import { type LatencyStats, latency, request } from './load.js';
import { createFunction, type KindlingClient, kindlingClient, type Proc, startProcess, stop } from './run.js';

interface PgCluster {
  url: string;
  stop(): void;
}

async function startPostgres(dir: string): Promise<PgCluster> {
  const mod = (await import(path.join(repoRoot(), 'scripts/postgres-cluster.js'))) as {
    startCluster(dir: string): Promise<{ url: string; stop(): void }>;
  };
  return mod.startCluster(dir);
}

function repoRoot(): string {
  return path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
}

async function newDatabase(baseUrl: string, name: string): Promise<string> {
  const { default: pg } = await import('pg');
  const c = new pg.Client({ connectionString: baseUrl });
  await c.connect();
  try {
    await c.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  } finally {
    await c.end();
  }
  const u = new URL(baseUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

interface Node {
  proc: Proc;
  k: KindlingClient;
  dataDir: string;
}

async function startNode(root: string, name: string, env: Record<string, string>): Promise<Node> {
  const dataDir = path.join(root, name);
  fs.mkdirSync(dataDir, { recursive: true });
  const proc = await startProcess(
    [path.join(repoRoot(), 'bin/kindling.js'), 'serve', '--port', '0', '--data-dir', dataDir],
    { KINDLING_POOL_TARGET: '2', ...env },
  );
  const creds = readCredentialsFile(path.join(dataDir, 'credentials'));
  if (!creds) throw new Error(`${name}: no credentials file`);
  return { proc, k: kindlingClient(proc.port, creds), dataDir };
}

/** Event figures on one store, on a fresh node. */
async function storeFigures(root: string, label: string, env: Record<string, string>, quick: boolean) {
  const node = await startNode(root, `store-${label}`, env);
  try {
    return await kindlingEventFigures(node.k, { quick });
  } finally {
    await stop(node.proc);
  }
}

/** c=1 warm Invoke sent to the node with the environment, and through another node that forwards. */
async function forwardingFigure(
  a: Node,
  b: Node,
  n: number,
): Promise<{ direct: LatencyStats; forwarded: LatencyStats; ranOnWarmNode: string }> {
  // Each environment names itself once at init: a forwarded request that ran on A's environment answers
  // with one of the names A's own requests saw.
  await createFunction(
    a.k,
    'bench-forward',
    'const env = Math.random().toString(36).slice(2); exports.handler = async () => ({ env });',
  );
  const payload = Buffer.from('{}');
  const direct = await latency(
    a.k.signed('POST', '/2015-03-31/functions/bench-forward/invocations', payload),
    n,
  );
  // Node B learns of A's warm environment from A's heartbeat.
  await new Promise((r) => setTimeout(r, 4_000));
  const forwarded = await latency(
    b.k.signed('POST', '/2015-03-31/functions/bench-forward/invocations', payload),
    n,
  );
  const seen = new Set<string>();
  for (let i = 0; i < 20; i++)
    seen.add((await a.k.call('POST', '/2015-03-31/functions/bench-forward/invocations', {})).json?.env);
  let onA = 0;
  for (let i = 0; i < 20; i++)
    if (seen.has((await b.k.call('POST', '/2015-03-31/functions/bench-forward/invocations', {})).json?.env))
      onA++;
  return { direct, forwarded, ranOnWarmNode: `${onA}/20` };
}

/** Sends `count` items through `send` with `concurrency` workers; items whose send throws are not accepted. */
async function drive(
  count: number,
  concurrency: number,
  send: (i: number) => Promise<boolean>,
  onHalf: () => void,
): Promise<{ accepted: Set<number>; refused: number }> {
  const accepted = new Set<number>();
  let refused = 0;
  let next = 0;
  let halfDone = false;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        if (!halfDone && i >= count / 2) {
          halfDone = true;
          onHalf();
        }
        try {
          if (await send(i)) accepted.add(i);
          else refused++;
        } catch {
          refused++;
        }
      }
    }),
  );
  return { accepted, refused };
}

const DONE_HANDLER = `
// The sandbox has no home directory; the SDK's shared-config lookup wants one.
process.env.HOME = process.env.HOME || '/tmp';
const { SQSClient, GetQueueUrlCommand, SendMessageBatchCommand } = require('@aws-sdk/client-sqs');
const sqs = new SQSClient({});
let url;
async function report(ids) {
  url ??= (await sqs.send(new GetQueueUrlCommand({ QueueName: 'bench-done' }))).QueueUrl;
  for (let i = 0; i < ids.length; i += 10) {
    const part = ids.slice(i, i + 10);
    const r = await sqs.send(new SendMessageBatchCommand({
      QueueUrl: url,
      Entries: part.map((id, j) => ({ Id: String(j), MessageBody: id })),
    }));
    if (r.Failed && r.Failed.length) throw new Error('report failed');
  }
}
exports.handler = async (event) => {
  if (event.Records) await report(event.Records.map((r) => r.body));
  else await report([event.id]);
  return { ok: true };
};`;

/**
 * Reads ids from the done queue (deleting as it goes) until every wanted id came, or it stays empty for
 * `quietMs`. Wanted ids, not a count: an event whose 202 was lost with the killed node may still have run,
 * and its id must not stand in for one still on its way.
 */
async function collectDone(
  k: KindlingClient,
  url: string,
  into: Set<string>,
  quietMs: number,
  want: Set<string>,
) {
  let quietSince = Date.now();
  let missing = new Set(want);
  while (Date.now() - quietSince < quietMs && missing.size > 0) {
    const r = await sqs(k, 'ReceiveMessage', { QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 });
    const msgs: { Body: string; ReceiptHandle: string }[] = r.Messages ?? [];
    if (msgs.length === 0) continue;
    quietSince = Date.now();
    for (const m of msgs) into.add(m.Body);
    missing = new Set([...missing].filter((id) => !into.has(id)));
    await sqs(k, 'DeleteMessageBatch', {
      QueueUrl: url,
      Entries: msgs.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
    });
  }
}

interface KillFigures {
  leaseMs: number;
  async: { sent: number; accepted: number; executed: number; lost: number; refused: number };
  queue: { sent: number; accepted: number; executed: number; lost: number; refused: number };
  seconds: number;
  /** What the store says of (up to 10) async events never reported. */
  lostAsync: Record<string, unknown>[];
}

/** The stored state of async events that were accepted but never reported (what the note needs to say). */
async function whatBecameOf(url: string, ids: number[]): Promise<Record<string, unknown>[]> {
  if (ids.length === 0) return [];
  const { default: pg } = await import('pg');
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const out: Record<string, unknown>[] = [];
    for (const i of ids) {
      const r = await c.query(
        `SELECT request_id, status, condition, attempts, throttles, last_error_type, last_error_message, last_status
           FROM async_events WHERE convert_from(payload, 'UTF8') = $1`,
        [JSON.stringify({ id: `a${i}` })],
      );
      out.push({ id: `a${i}`, rows: r.rows });
    }
    return out;
  } finally {
    await c.end();
  }
}

async function killTest(root: string, env: Record<string, string>, n: number): Promise<KillFigures> {
  const leaseMs = Number(env.KINDLING_LEASE_MS);
  const first = await startNode(root, 'kill-1', env);
  const others = await Promise.all([startNode(root, 'kill-2', env), startNode(root, 'kill-3', env)]);
  const nodes = [first, ...others];
  const started = Date.now();
  try {
    const k = first.k;
    await createFunction(k, 'bench-kill-async', DONE_HANDLER, { Timeout: 30 });
    await createFunction(k, 'bench-kill-queue', DONE_HANDLER, { Timeout: 30 });
    const done = (
      await sqs(k, 'CreateQueue', { QueueName: 'bench-done', Attributes: { VisibilityTimeout: '60' } })
    ).QueueUrl as string;
    const work = (
      await sqs(k, 'CreateQueue', { QueueName: 'bench-work', Attributes: { VisibilityTimeout: '60' } })
    ).QueueUrl as string;
    const workArn = (await sqs(k, 'GetQueueAttributes', { QueueUrl: work, AttributeNames: ['QueueArn'] }))
      .Attributes.QueueArn;
    const m = await k.call('POST', '/2015-03-31/event-source-mappings/', {
      FunctionName: 'bench-kill-queue',
      EventSourceArn: workArn,
      BatchSize: 10,
    });
    if (m.status >= 300) throw new Error(`CreateEventSourceMapping: ${m.status} ${JSON.stringify(m.json)}`);

    const victim = nodes[2]!;
    let dead = false;
    const kill = () => {
      if (dead) return;
      dead = true;
      victim.proc.child.kill('SIGKILL');
    };
    const live = () => (dead ? nodes.slice(0, 2) : nodes);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    let rr = 0;
    const pick = () => {
      const l = live();
      return l[rr++ % l.length]!;
    };
    // Async invokes and queue messages at the same time; the victim dies when either is half-way.
    const [asyncRun, queueRun] = await Promise.all([
      drive(
        n,
        16,
        async (i) => {
          const node = pick();
          const r = await request(
            agent,
            node.k.signed(
              'POST',
              '/2015-03-31/functions/bench-kill-async/invocations',
              Buffer.from(JSON.stringify({ id: `a${i}` })),
              'lambda',
              { 'x-amz-invocation-type': 'Event' },
            ),
          );
          return r.status === 202;
        },
        kill,
      ),
      drive(
        n / 10,
        4,
        async (b) => {
          const node = pick();
          const r = await request(
            agent,
            node.k.signed(
              'POST',
              '/',
              Buffer.from(
                JSON.stringify({
                  QueueUrl: work,
                  Entries: Array.from({ length: 10 }, (_, j) => ({
                    Id: String(j),
                    MessageBody: `q${b * 10 + j}`,
                  })),
                }),
              ),
              'sqs',
              sqsHeaders('SendMessageBatch'),
            ),
          );
          if (r.status !== 200) return false;
          const out = JSON.parse(r.body.toString()) as { Failed?: unknown[] };
          return (out.Failed ?? []).length === 0;
        },
        kill,
      ),
    ]);
    agent.destroy();
    const executed = new Set<string>();
    const want = new Set([...asyncRun.accepted].map((i) => `a${i}`));
    for (const b of queueRun.accepted) for (let j = 0; j < 10; j++) want.add(`q${b * 10 + j}`);
    // Quiet period longer than a lease: a dead node's claims are taken over within it.
    await collectDone(k, done, executed, Math.max(60_000, leaseMs * 3), want);
    const asyncExecuted = [...asyncRun.accepted].filter((i) => executed.has(`a${i}`)).length;
    const lostAsync = [...asyncRun.accepted].filter((i) => !executed.has(`a${i}`));
    let queueAccepted = 0;
    let queueExecuted = 0;
    for (const b of queueRun.accepted) {
      for (let j = 0; j < 10; j++) {
        queueAccepted++;
        if (executed.has(`q${b * 10 + j}`)) queueExecuted++;
      }
    }
    return {
      leaseMs,
      async: {
        sent: n,
        accepted: asyncRun.accepted.size,
        executed: asyncExecuted,
        lost: asyncRun.accepted.size - asyncExecuted,
        refused: asyncRun.refused,
      },
      queue: {
        sent: n,
        accepted: queueAccepted,
        executed: queueExecuted,
        lost: queueAccepted - queueExecuted,
        refused: queueRun.refused * 10,
      },
      seconds: Math.round((Date.now() - started) / 1000),
      lostAsync: await whatBecameOf(env.KINDLING_STORE!, lostAsync.slice(0, 10)),
    };
  } finally {
    for (const node of nodes) await stop(node.proc);
  }
}

export async function clusterFigures(opts: {
  quick: boolean;
  row: (name: string, value: string, note?: string) => void;
}): Promise<Record<string, unknown>> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-bench-cluster-'));
  const pg = await startPostgres(path.join(root, 'pg'));
  const out: Record<string, unknown> = {};
  try {
    const { row, quick } = opts;
    const sqlite = await storeFigures(root, 'sqlite', {}, quick);
    const postgres = await storeFigures(
      root,
      'postgres',
      { KINDLING_STORE: await newDatabase(pg.url, 'bench_store') },
      quick,
    );
    out.sqlite = sqlite;
    out.postgres = postgres;
    for (let i = 0; i < sqlite.rows.length; i++) {
      const [name, value, note] = sqlite.rows[i]!;
      row(`${name.replace('events:      ', 'sqlite:      ')}`, value, note);
      const p = postgres.rows[i]!;
      row(`${p[0].replace('events:      ', 'postgres:    ')}`, p[1], p[2]);
    }

    const blobs = path.join(root, 'blobs');
    fs.mkdirSync(blobs);
    const clusterEnv = {
      KINDLING_STORE: await newDatabase(pg.url, 'bench_forward'),
      KINDLING_BLOBS: blobs,
      KINDLING_LEASE_MS: '10000',
    };
    const a = await startNode(root, 'fwd-a', clusterEnv);
    const b = await startNode(root, 'fwd-b', clusterEnv);
    try {
      const f = await forwardingFigure(a, b, quick ? 300 : 2000);
      out.forwarding = f;
      row('cluster:      warm Invoke c=1 straight to the warm node p50/p99 (ms)', fmtStats(f.direct));
      row(
        'cluster:      warm Invoke c=1 through a forwarding node p50/p99 (ms)',
        fmtStats(f.forwarded),
        `added p50 ${(f.forwarded.p50 - f.direct.p50).toFixed(3)} ms; ran on the warm node ${f.ranOnWarmNode}`,
      );
    } finally {
      await stop(a.proc);
      await stop(b.proc);
    }

    const kill = await killTest(
      root,
      { ...clusterEnv, KINDLING_STORE: await newDatabase(pg.url, 'bench_kill'), KINDLING_BLOBS: blobs },
      quick ? 1_000 : 10_000,
    );
    out.kill = kill;
    row(
      'kill test:    async invokes accepted / executed / lost',
      `${kill.async.accepted} / ${kill.async.executed} / ${kill.async.lost}`,
      `of ${kill.async.sent} sent, ${kill.async.refused} refused (node down); target 0 lost`,
    );
    row(
      'kill test:    queue messages accepted / executed / lost',
      `${kill.queue.accepted} / ${kill.queue.executed} / ${kill.queue.lost}`,
      `of ${kill.queue.sent} sent, ${kill.queue.refused} refused (node down); lease ${kill.leaseMs} ms, ${kill.seconds} s`,
    );
    for (const l of kill.lostAsync)
      console.log(`kill test:    lost async event, as stored: ${JSON.stringify(l)}`);
  } finally {
    pg.stop();
    fs.rmSync(root, { recursive: true, force: true });
  }
  return out;
}

const fmtStats = (s: LatencyStats) => `${s.p50.toFixed(3)} / ${s.p99.toFixed(3)}`;
