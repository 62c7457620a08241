// The kill loop: a real `kindling serve` under async-invoke and queue load is SIGKILLed at random
// points (a seeded PRNG picks them) and restarted on the same data dir, again and again. At the end,
// every acknowledged request must have been delivered: each SendMessage that got a 200 is receivable
// (or was received), each Event invoke that got a 202 ran at least once. Duplicates are allowed
// (at-least-once); losses are not. Shared by the short test in `npm test` and `npm run soak`.
import fs from 'node:fs';
import { InvokeCommand, PutFunctionEventInvokeConfigCommand } from '@aws-sdk/client-lambda';
import {
  DeleteMessageBatchCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { type ServerProcess, sdkConfig, spawnServer, tempDir } from '../helpers/platform.js';
import { clients, createFunction, createQueue, okHandler } from '../invoke/async/fixtures.js';

export interface KillLoopOptions {
  seed: number;
  /** Stop after this many kills... */
  kills: number;
  /** ...or once this much time has passed, whichever comes first. */
  durationMs: number;
  /** Bounds of the random time the load runs before each kill. */
  minUptimeMs: number;
  maxUptimeMs: number;
  /** Count the uptime from the round's first acknowledgement instead of the restart, so that every
   *  round puts acknowledged work at risk even on a slow machine (the soak also kills during recovery). */
  fromFirstAck?: boolean;
  /** How long the final, unkilled server may take to deliver everything. */
  drainMs: number;
  log?: (line: string) => void;
}

export interface KillLoopResult {
  kills: number;
  acceptedEvents: number;
  acceptedMessages: number;
  /** Acknowledged but never delivered: both must be empty. */
  lostEvents: string[];
  lostMessages: string[];
}

/** mulberry32: a small seeded PRNG, so a failing schedule of kills can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ENV = { KINDLING_RETRY_BASE_MS: '50' };
const INVOKERS = 6;
const SENDERS = 6;

async function queueUrl(sqs: SQSClient, name: string): Promise<string> {
  return (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl!;
}

/** Receives (and deletes) what is visible now; returns the bodies. Visibility is short: a kill
 *  between receive and delete puts the messages back soon. */
async function drainOnce(sqs: SQSClient, url: string, waitSec: number): Promise<string[]> {
  const r = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: url,
      MaxNumberOfMessages: 10,
      VisibilityTimeout: 2,
      WaitTimeSeconds: waitSec,
    }),
  );
  const msgs = r.Messages ?? [];
  if (msgs.length > 0) {
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: url,
        Entries: msgs.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
      }),
    );
  }
  return msgs.map((m) => m.Body ?? '');
}

export async function killLoop(o: KillLoopOptions): Promise<KillLoopResult> {
  const log = o.log ?? (() => {});
  const random = prng(o.seed);
  const dataDir = tempDir('kindling-killloop-');
  const acceptedEvents = new Set<string>();
  const ranEvents = new Set<string>();
  const acceptedMessages = new Set<string>();
  const delivered = new Set<string>();
  const started = Date.now();
  let server: ServerProcess | undefined = await spawnServer(dataDir, ENV);
  let kills = 0;
  try {
    {
      const c = clients(sdkConfig({ endpoint: server.endpoint, credentials: server.credentials }));
      const evidence = await createQueue(c.sqs, 'evidence');
      await createQueue(c.sqs, 'load');
      await createFunction(c.lambda, 'counter', okHandler);
      // One record per successful run lands in `evidence`, written by the platform itself.
      await c.lambda.send(
        new PutFunctionEventInvokeConfigCommand({
          FunctionName: 'counter',
          DestinationConfig: { OnSuccess: { Destination: evidence.arn } },
        }),
      );
      c.lambda.destroy();
      c.sqs.destroy();
    }

    let seq = 0;
    while (kills < o.kills && Date.now() - started < o.durationMs) {
      const srv: ServerProcess = server;
      const c = clients(sdkConfig({ endpoint: srv.endpoint, credentials: srv.credentials }));
      let stop = false;
      let killing = false;
      const roundStart = Date.now();
      let firstAck: number | undefined;
      let onFirstAck: () => void = () => {};
      const gotFirstAck = new Promise<void>((r) => (onFirstAck = r));
      const acked = () => {
        if (firstAck === undefined) {
          firstAck = Date.now() - roundStart;
          onFirstAck();
        }
      };
      const failures = new Map<string, number>();
      const loop = async (step: () => Promise<void>) => {
        while (!stop) {
          try {
            await step();
          } catch (e) {
            // The server is gone (or going): what was not acknowledged does not count.
            if (!killing) {
              const what = `${(e as Error).name}: ${(e as Error).message}`.slice(0, 80);
              failures.set(what, (failures.get(what) ?? 0) + 1);
            }
            if (!stop) await sleep(20);
          }
        }
      };
      const urls = await Promise.all([queueUrl(c.sqs, 'load'), queueUrl(c.sqs, 'evidence')]).catch(
        () => undefined,
      );
      const workers: Promise<void>[] = [];
      if (urls) {
        const [load, evidence] = urls;
        for (let i = 0; i < INVOKERS; i++)
          workers.push(
            loop(async () => {
              const out = await c.lambda.send(
                new InvokeCommand({
                  FunctionName: 'counter',
                  InvocationType: 'Event',
                  Payload: Buffer.from(`{"n":${seq++}}`),
                }),
              );
              if (out.StatusCode === 202) acceptedEvents.add(out.$metadata.requestId!);
              acked();
            }),
          );
        for (let i = 0; i < SENDERS; i++)
          workers.push(
            loop(async () => {
              const body = `m-${seq++}`;
              await c.sqs.send(new SendMessageCommand({ QueueUrl: load, MessageBody: body }));
              acceptedMessages.add(body);
              acked();
            }),
          );
        // Consumers too: a kill between receive and delete must not lose the message either.
        workers.push(
          loop(async () => {
            for (const b of await drainOnce(c.sqs, load, 0)) delivered.add(b);
          }),
        );
        workers.push(
          loop(async () => {
            for (const b of await drainOnce(c.sqs, evidence, 0))
              ranEvents.add(JSON.parse(b).requestContext.requestId);
          }),
        );
      }
      const uptime = o.minUptimeMs + Math.floor(random() * (o.maxUptimeMs - o.minUptimeMs));
      // A round whose load never got an answer is killed after the cap all the same.
      if (o.fromFirstAck && urls) await Promise.race([gotFirstAck, sleep(30_000)]);
      await sleep(uptime);
      killing = true;
      srv.child.kill('SIGKILL');
      const how = await srv.exited;
      stop = true;
      await Promise.all(workers);
      c.lambda.destroy();
      c.sqs.destroy();
      kills++;
      log(
        `kill ${kills} ${uptime} ms after the ${o.fromFirstAck ? 'first acknowledgement' : 'restart'} (${how}): ${acceptedEvents.size} events and ${acceptedMessages.size} messages acknowledged so far, the round's first ${firstAck === undefined ? 'never came' : `came ${firstAck} ms after the restart`}` +
          (failures.size > 0
            ? `; failed before the kill: ${[...failures].map(([k, n]) => `${n}× ${k}`).join(', ')}`
            : ''),
      );
      server = undefined;
      server = await spawnServer(dataDir, ENV);
    }

    // The last server lives: everything acknowledged must now arrive.
    const c = clients(sdkConfig({ endpoint: server.endpoint, credentials: server.credentials }));
    const [load, evidence] = await Promise.all([queueUrl(c.sqs, 'load'), queueUrl(c.sqs, 'evidence')]);
    const missing = () => ({
      events: [...acceptedEvents].filter((id) => !ranEvents.has(id)),
      messages: [...acceptedMessages].filter((b) => !delivered.has(b)),
    });
    const end = Date.now() + o.drainMs;
    while (Date.now() < end) {
      const m = missing();
      if (m.events.length === 0 && m.messages.length === 0) break;
      if (m.messages.length > 0) for (const b of await drainOnce(c.sqs, load, 1)) delivered.add(b);
      if (m.events.length > 0)
        for (const b of await drainOnce(c.sqs, evidence, 1))
          ranEvents.add(JSON.parse(b).requestContext.requestId);
    }
    c.lambda.destroy();
    c.sqs.destroy();
    const m = missing();
    return {
      kills,
      acceptedEvents: acceptedEvents.size,
      acceptedMessages: acceptedMessages.size,
      lostEvents: m.events,
      lostMessages: m.messages,
    };
  } finally {
    if (server && server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
