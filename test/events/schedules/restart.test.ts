// Schedules across restarts of a `kindling serve` child: a rule missed while the server was down fires
// once (not once per missed period), and a SIGKILL while rules fire neither loses nor repeats a fire.
// The store is read directly between runs: the data dir's SQLite file, or its PostgreSQL database.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { EventBridgeClient, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { PutFunctionEventInvokeConfigCommand } from '@aws-sdk/client-lambda';
import { PostgresSql } from '../../../src/store/postgres.js';
import type { Sql } from '../../../src/store/sql.js';
import { SqliteSql } from '../../../src/store/sqlite.js';
import { type ServerProcess, sdkConfig, spawnServer, tempDir } from '../../helpers/platform.js';
import { dropTestStore, testStoreFor } from '../../helpers/store.js';
import { clients, createFunction, createQueue, okHandler, receive } from '../../invoke/async/fixtures.js';

const ENV = { KINDLING_RETRY_BASE_MS: '50' };

async function stop(server: ServerProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!server || server.child.exitCode !== null || server.child.signalCode !== null) return;
  server.child.kill(signal);
  await server.exited;
}

/** Opens the stopped server's store (tests only: to move time forward for the schedules). */
async function withDb<T>(dataDir: string, fn: (sql: Sql) => Promise<T>): Promise<T> {
  const { store } = await testStoreFor(dataDir);
  const sql = store
    ? await PostgresSql.open({ url: store })
    : SqliteSql.open(path.join(dataDir, 'kindling.db'));
  try {
    return await fn(sql);
  } finally {
    await sql.close();
  }
}

const count = async (sql: Sql, text: string, params: unknown[] = []) =>
  (await sql.get<{ n: number }>(text, params))?.n ?? 0;

/** A function whose successful runs are recorded in a queue, and `n` rules targeting it. */
async function setup(server: ServerProcess, rules: string[], expression: string) {
  const c = clients(sdkConfig(server));
  const events = new EventBridgeClient(sdkConfig(server));
  const sink = await createQueue(c.sqs, 'sink');
  const fnArn = await createFunction(c.lambda, 'tick', okHandler);
  await c.lambda.send(
    new PutFunctionEventInvokeConfigCommand({
      FunctionName: 'tick',
      DestinationConfig: { OnSuccess: { Destination: sink.arn } },
    }),
  );
  const arns: string[] = [];
  for (const name of rules) {
    arns.push(
      (await events.send(new PutRuleCommand({ Name: name, ScheduleExpression: expression }))).RuleArn!,
    );
    await events.send(new PutTargetsCommand({ Rule: name, Targets: [{ Id: 'tick', Arn: fnArn }] }));
  }
  c.lambda.destroy();
  c.sqs.destroy();
  events.destroy();
  return { sinkPath: new URL(sink.url).pathname, arns };
}

/** Rule ARNs of the scheduled events the function ran, from its on-success records. */
async function ranFor(server: ServerProcess, sinkPath: string, want: number): Promise<string[]> {
  const { sqs } = clients(sdkConfig(server));
  const got = await receive(sqs, `${server.endpoint}${sinkPath}`, want, 60_000);
  sqs.destroy();
  return got.map((m) => JSON.parse(m.Body!).responsePayload.got.resources[0] as string);
}

test('a schedule missed while the server was down fires once on restart, not once per missed period', async () => {
  const dataDir = tempDir();
  let server: ServerProcess | undefined = await spawnServer(dataDir, ENV);
  try {
    const { sinkPath, arns } = await setup(server, ['hourly'], 'rate(1 hour)');
    await stop(server);
    server = undefined;
    // As if the server had been down for ten hours: the rule's phase is 10.5 h old and ten fires were missed.
    const HOUR = 3_600_000;
    const anchor = Date.now() - 10.5 * HOUR;
    await withDb(dataDir, (sql) =>
      sql.run('UPDATE schedule_rules SET anchor_at = ?, next_fire_at = ?', [anchor, anchor + HOUR]),
    );
    server = await spawnServer(dataDir, ENV);
    assert.deepEqual(await ranFor(server, sinkPath, 1), arns);
    await stop(server);
    server = undefined;
    const { fires, next } = await withDb(dataDir, async (sql) => ({
      fires: await count(sql, "SELECT COUNT(*) AS n FROM async_events WHERE source_kind = 'schedule'"),
      next: (await sql.get<{ t: number }>('SELECT next_fire_at AS t FROM schedule_rules'))!.t,
    }));
    assert.equal(fires, 1);
    assert.equal(next, anchor + 11 * HOUR, 'the next fire is the first period after the restart');
  } finally {
    await stop(server);
    await dropTestStore(dataDir);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a SIGKILL while rules fire neither loses nor repeats a fire', async () => {
  const RULES = 100;
  const dataDir = tempDir();
  let server: ServerProcess | undefined = await spawnServer(dataDir, ENV);
  try {
    const names = Array.from({ length: RULES }, (_, i) => `r${String(i).padStart(2, '0')}`);
    const { sinkPath, arns } = await setup(server, names, 'rate(1 hour)');
    await stop(server);
    // All rules fall due together shortly after the next start; the kill aims at the firing (landing before,
    // during or after it, the invariants below must hold).
    const fireAt = Date.now() + 1_500;
    await withDb(dataDir, (sql) => sql.run('UPDATE schedule_rules SET next_fire_at = ?', [fireAt]));
    server = await spawnServer(dataDir, ENV);
    await new Promise((r) => setTimeout(r, Math.max(0, fireAt + 30 - Date.now())));
    await stop(server, 'SIGKILL');
    const before = await withDb(dataDir, async (sql) => ({
      // A rule advanced with its hand-over finished has its events stored; one whose node died mid-hand-over
      // still says which tick it was handing over (the next start finishes it).
      advancedUnfired: await count(
        sql,
        `SELECT COUNT(*) AS n FROM schedule_rules r WHERE r.next_fire_at > ? AND r.firing_at IS NULL
          AND NOT EXISTS (SELECT 1 FROM async_events e WHERE e.source_kind = 'schedule' AND e.source_arn = r.arn)`,
        [fireAt],
      ),
      firedNotAdvanced: await count(
        sql,
        `SELECT COUNT(*) AS n FROM schedule_rules r WHERE r.next_fire_at <= ?
          AND EXISTS (SELECT 1 FROM async_events e WHERE e.source_kind = 'schedule' AND e.source_arn = r.arn)`,
        [fireAt],
      ),
    }));
    assert.equal(before.advancedUnfired, 0, 'no rule advanced without its fire stored or pending');
    assert.equal(before.firedNotAdvanced, 0, 'no rule fired without advancing');

    server = await spawnServer(dataDir, ENV);
    const ran = new Set(await ranFor(server, sinkPath, RULES));
    await stop(server);
    server = undefined;
    assert.deepEqual([...ran].sort(), [...arns].sort(), 'every rule’s fire ran');
    const perRule = await withDb(dataDir, (sql) =>
      sql.all<{ arn: string; n: number }>(
        "SELECT source_arn AS arn, COUNT(*) AS n FROM async_events WHERE source_kind = 'schedule' GROUP BY source_arn",
      ),
    );
    assert.equal(perRule.length, RULES);
    for (const r of perRule) assert.equal(r.n, 1, `${r.arn} fired once`);
  } finally {
    await stop(server);
    await dropTestStore(dataDir);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
