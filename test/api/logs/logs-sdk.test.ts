// The CloudWatch Logs API through the unmodified AWS SDK against a real server: Lambda's log group and
// stream names, events line by line, filter patterns, paging, and a follow loop as `aws logs tail
// --follow` runs it (FilterLogEvents from the newest timestamp seen, deduplicated by eventId).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CloudWatchLogsClient,
  DescribeLogGroupsCommand,
  DescribeLogStreamsCommand,
  type FilteredLogEvent,
  FilterLogEventsCommand,
  GetLogEventsCommand,
  paginateGetLogEvents,
} from '@aws-sdk/client-cloudwatch-logs';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { createFunction, lambdaClient } from '../../helpers/functions.js';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';

let p: TestPlatform;
let lambda: LambdaClient;
let logs: CloudWatchLogsClient;
/** The log stream the `talker` function's environment reported in its context. */
let stream = '';

const GROUP = '/aws/lambda/talker';

async function invoke(name: string, payload: unknown): Promise<unknown> {
  const out = await lambda.send(
    new InvokeCommand({ FunctionName: name, Payload: Buffer.from(JSON.stringify(payload)) }),
  );
  assert.equal(out.FunctionError, undefined);
  return JSON.parse(Buffer.from(out.Payload ?? []).toString('utf8'));
}

before(async () => {
  p = await startPlatform();
  lambda = lambdaClient(p);
  logs = new CloudWatchLogsClient(sdkConfig(p));
  await createFunction(
    lambda,
    'talker',
    `export const handler = async (e, context) => {
       console.log('said', e.say);
       if (e.multi) console.log('first line\\nsecond line');
       return context.logStreamName;
     };`,
  );
  stream = String(await invoke('talker', { say: 'hello-one' }));
  await invoke('talker', { say: 'ERROR disk full' });
  await invoke('talker', { say: 'WARN slow', multi: true });
});
after(async () => {
  lambda.destroy();
  logs.destroy();
  await p.close();
});

test("an invoked function's log group is /aws/lambda/<name>, with the account's ARN", async () => {
  const out = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: '/aws/lambda/t' }));
  const g = out.logGroups?.find((x) => x.logGroupName === GROUP);
  assert.ok(g, JSON.stringify(out.logGroups));
  assert.match(g.logGroupArn ?? '', /^arn:aws:logs:[a-z0-9-]+:\d{12}:log-group:\/aws\/lambda\/talker$/);
  assert.equal(g.arn, `${g.logGroupArn}:*`);
  assert.ok((g.creationTime ?? 0) > 0);
  const none = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: '/other/' }));
  assert.deepEqual(none.logGroups, []);
});

test("the log stream is the one the function's environment was told (AWS_LAMBDA_LOG_STREAM_NAME)", async () => {
  assert.match(stream, /^\d{4}\/\d{2}\/\d{2}\/\[\$LATEST\][0-9a-f]{32}$/);
  const out = await logs.send(new DescribeLogStreamsCommand({ logGroupName: GROUP }));
  const names = (out.logStreams ?? []).map((s) => s.logStreamName);
  assert.deepEqual(names, [stream]);
  const s = out.logStreams![0]!;
  assert.ok((s.firstEventTimestamp ?? 0) <= (s.lastEventTimestamp ?? 0));
  const byTime = await logs.send(
    new DescribeLogStreamsCommand({ logGroupName: GROUP, orderBy: 'LastEventTime', descending: true }),
  );
  assert.equal(byTime.logStreams?.[0]?.logStreamName, stream);
});

test('GetLogEvents gives each line as an event, START/END/REPORT included, in order', async () => {
  const out = await logs.send(
    new GetLogEventsCommand({ logGroupName: GROUP, logStreamName: stream, startFromHead: true }),
  );
  const msgs = (out.events ?? []).map((e) => e.message ?? '');
  const kinds = msgs.map((m) => m.split(' ')[0]!.split('\t')[0]);
  assert.deepEqual(kinds.slice(0, 4), ['START', msgs[1]!.slice(0, 24), 'END', 'REPORT']);
  assert.match(msgs[1]!, /^\d{4}-\d{2}-\d{2}T[\d:.]+Z\t[0-9a-f-]{36}\tINFO\tsaid hello-one\n$/);
  assert.match(msgs[3]!, /^REPORT RequestId: .*Max Memory Used: \d+ MB/);
  const times = (out.events ?? []).map((e) => e.timestamp ?? 0);
  assert.deepEqual(
    times,
    [...times].sort((a, b) => a - b),
  );
  // A message with its own newlines stays one event.
  assert.ok(msgs.some((m) => m.endsWith('INFO\tfirst line\nsecond line\n')));
});

test('GetLogEvents pages forward with its tokens, each event once, and the last token repeats', async () => {
  const all = await logs.send(
    new GetLogEventsCommand({ logGroupName: GROUP, logStreamName: stream, startFromHead: true }),
  );
  const seen: string[] = [];
  let tokens = 0;
  for await (const page of paginateGetLogEvents(
    // As against CloudWatch: the last forward token repeats, and the paginator stops on it.
    { client: logs, pageSize: 3, stopOnSameToken: true },
    { logGroupName: GROUP, logStreamName: stream, startFromHead: true },
  )) {
    for (const e of page.events ?? []) seen.push(e.message ?? '');
    tokens++;
    assert.ok(tokens < 50, 'the paginator never stops');
  }
  assert.deepEqual(
    seen,
    (all.events ?? []).map((e) => e.message),
  );
});

test('GetLogEvents without startFromHead answers the newest events; the backward token reads older ones', async () => {
  const all = (
    await logs.send(
      new GetLogEventsCommand({ logGroupName: GROUP, logStreamName: stream, startFromHead: true }),
    )
  ).events!;
  const tail = await logs.send(
    new GetLogEventsCommand({ logGroupName: GROUP, logStreamName: stream, limit: 2 }),
  );
  assert.deepEqual(
    tail.events?.map((e) => e.message),
    all.slice(-2).map((e) => e.message),
  );
  const before = await logs.send(
    new GetLogEventsCommand({
      logGroupName: GROUP,
      logStreamName: stream,
      limit: 2,
      nextToken: tail.nextBackwardToken,
    }),
  );
  assert.deepEqual(
    before.events?.map((e) => e.message),
    all.slice(-4, -2).map((e) => e.message),
  );
});

async function filter(pattern: string): Promise<string[]> {
  const out = await logs.send(new FilterLogEventsCommand({ logGroupName: GROUP, filterPattern: pattern }));
  return (out.events ?? []).map((e) => e.message ?? '');
}

test('filter patterns: terms, quoted phrases, exclusions and ?alternatives', async () => {
  assert.deepEqual(
    (await filter('said ERROR')).map((m) => m.split('\t').at(-1)),
    ['said ERROR disk full\n'],
  );
  assert.equal((await filter('"disk full"')).length, 1);
  assert.equal((await filter('"full disk"')).length, 0);
  assert.deepEqual(
    (await filter('said -ERROR -WARN')).map((m) => m.split('\t').at(-1)),
    ['said hello-one\n'],
  );
  assert.equal((await filter('?ERROR ?WARN')).length, 2);
  assert.equal((await filter('error')).length, 0, 'terms are case-sensitive');
  assert.equal((await filter('REPORT')).length, 3);
  assert.equal((await filter('')).length, (await filter('RequestId')).length + (await filter('INFO')).length);
});

test('FilterLogEvents honours the time range', async () => {
  const all = await logs.send(new FilterLogEventsCommand({ logGroupName: GROUP }));
  const events = all.events ?? [];
  const times = events.map((e) => e.timestamp!);
  assert.deepEqual(
    times,
    [...times].sort((a, b) => a - b),
  );
  const mid = events[Math.floor(events.length / 2)]!.timestamp!;
  const later = await logs.send(new FilterLogEventsCommand({ logGroupName: GROUP, startTime: mid }));
  assert.ok((later.events ?? []).every((e) => e.timestamp! >= mid));
  assert.ok((later.events ?? []).length < events.length || times[0] === mid);
  const future = await logs.send(
    new FilterLogEventsCommand({ logGroupName: GROUP, startTime: Date.now() + 3_600_000 }),
  );
  assert.deepEqual(future.events, []);
  const past = await logs.send(new FilterLogEventsCommand({ logGroupName: GROUP, endTime: times[0]! - 1 }));
  assert.deepEqual(past.events, []);
});

test('FilterLogEvents pages with nextToken, each event once, and eventIds never change', async () => {
  const all = (await logs.send(new FilterLogEventsCommand({ logGroupName: GROUP }))).events ?? [];
  const paged: FilteredLogEvent[] = [];
  let token: string | undefined;
  for (let i = 0; i < 50; i++) {
    const out = await logs.send(
      new FilterLogEventsCommand({ logGroupName: GROUP, limit: 2, nextToken: token }),
    );
    paged.push(...(out.events ?? []));
    token = out.nextToken;
    if (!token) break;
  }
  assert.deepEqual(
    paged.map((e) => [e.eventId, e.message]),
    all.map((e) => [e.eventId, e.message]),
  );
  assert.equal(new Set(all.map((e) => e.eventId)).size, all.length);
});

test('a follow loop as `aws logs tail --follow` runs it sees every new line once', async () => {
  await createFunction(
    lambda,
    'followed',
    'export const handler = async (e) => { console.log("line", e.n); };',
  );
  const group = '/aws/lambda/followed';
  await invoke('followed', { n: 0 });
  // The AWS CLI's loop: interleaved FilterLogEvents from a start time; on the last page it restarts from
  // the newest timestamp seen, skipping the eventIds it already printed at that timestamp.
  const printed: string[] = [];
  let seenAtNewest = new Map<number, Set<string>>();
  const params: { logGroupName: string; interleaved: boolean; startTime: number; nextToken?: string } = {
    logGroupName: group,
    interleaved: true,
    startTime: Date.now() - 60_000,
  };
  const poll = async () => {
    for (let i = 0; i < 20; i++) {
      const out = await logs.send(new FilterLogEventsCommand(params));
      for (const e of out.events ?? []) {
        const ids = seenAtNewest.get(e.timestamp!) ?? new Set<string>();
        if (ids.has(e.eventId!)) continue;
        ids.add(e.eventId!);
        seenAtNewest.set(e.timestamp!, ids);
        printed.push(e.message!);
      }
      if (seenAtNewest.size > 0) {
        const newest = Math.max(...seenAtNewest.keys());
        seenAtNewest = new Map([[newest, seenAtNewest.get(newest)!]]);
      }
      if (out.nextToken) {
        params.nextToken = out.nextToken;
        continue;
      }
      delete params.nextToken;
      if (seenAtNewest.size > 0) params.startTime = Math.max(...seenAtNewest.keys());
      return;
    }
    assert.fail('the follow loop never reached the last page');
  };
  await poll();
  await poll();
  for (const n of [1, 2, 3]) {
    await invoke('followed', { n });
    await poll();
    await poll();
  }
  const lines = printed.filter((m) => m.includes('\tINFO\tline ')).map((m) => m.split('\t').at(-1));
  assert.deepEqual(lines, ['line 0\n', 'line 1\n', 'line 2\n', 'line 3\n']);
  assert.equal(printed.filter((m) => m.startsWith('START ')).length, 4);
  assert.equal(printed.filter((m) => m.startsWith('REPORT ')).length, 4);
});

test("concurrent invocations land in their environments' streams, interleaved by time in FilterLogEvents", async () => {
  await createFunction(
    lambda,
    'pair',
    `export const handler = async (e, c) => {
       console.log('begin', e.n);
       await new Promise((r) => setTimeout(r, 400));
       console.log('finish', e.n);
       return c.logStreamName;
     };`,
  );
  const streams = await Promise.all([invoke('pair', { n: 1 }), invoke('pair', { n: 2 })]);
  assert.notEqual(streams[0], streams[1], 'two environments served them');
  const group = '/aws/lambda/pair';
  const listed = await logs.send(new DescribeLogStreamsCommand({ logGroupName: group }));
  assert.deepEqual(
    listed.logStreams?.map((s) => s.logStreamName),
    [...streams].map(String).sort(),
  );
  const all = (
    await logs.send(new FilterLogEventsCommand({ logGroupName: group, filterPattern: '?begin ?finish' }))
  ).events!;
  // One time line across both streams: ordered by timestamp (then eventId), whichever stream wrote.
  const times = all.map((e) => e.timestamp!);
  assert.deepEqual(
    times,
    [...times].sort((a, b) => a - b),
  );
  assert.equal(new Set(all.map((e) => e.logStreamName)).size, 2);
  const words = all.map((e) => (e.message ?? '').split('\t').at(-1)!.trim());
  assert.deepEqual([...words].sort(), ['begin 1', 'begin 2', 'finish 1', 'finish 2']);
  assert.ok(words.indexOf('begin 1') < words.indexOf('finish 1'));
  assert.ok(words.indexOf('begin 2') < words.indexOf('finish 2'));
  const one = await logs.send(
    new FilterLogEventsCommand({
      logGroupName: group,
      logStreamNames: [String(streams[0])],
      filterPattern: 'finish',
    }),
  );
  assert.equal(one.events?.length, 1);
  assert.equal(one.events?.[0]?.logStreamName, streams[0]);
  assert.match(one.events?.[0]?.message ?? '', /finish 1\n$/);
});
