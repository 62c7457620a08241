// Lambda extensions on the Python and custom (provided) runtimes, as extensions.test.ts proves them on Node:
// an executable in /opt/extensions (from a layer) registers, is sent each INVOKE and, when its environment
// is retired, SHUTDOWN, and flushes its count to the embedded SQS through the platform relay (curl signs
// the request: the sandboxes of these runtimes have no AWS SDK for a shell script). Extensions that never
// register, never ask for their next event again, or crash do not stop the invoke from answering. The
// extensions are shell scripts, so both runtimes run the same ones; the Python runtime serves their API
// from bootstrap.py's extensions.py, the custom runtime from its C shim (rapi-shim.c).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CreateFunctionCommand,
  InvokeCommand,
  LambdaClient,
  PublishLayerVersionCommand,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { zipOf } from '../api/lambda/zips.js';
import { sdkConfig, startPlatform, type TestPlatform } from '../helpers/platform.js';

let p: TestPlatform;
let lambda: LambdaClient;
let sqs: SQSClient;

before(async () => {
  p = await startPlatform();
  lambda = new LambdaClient(sdkConfig(p));
  sqs = new SQSClient(sdkConfig(p));
});

after(async () => {
  lambda?.destroy();
  sqs?.destroy();
  await p?.close();
});

/** Registers as $1 for the events $2; prints the identifier. */
const PRELUDE = `#!/bin/sh
API="http://$AWS_LAMBDA_RUNTIME_API/2020-01-01/extension"
register() {
  curl -sS -D - -o /dev/null -X POST -H "Lambda-Extension-Name: $1" -d "{\\"events\\":$2}" "$API/register" |
    tr -d '\\r' | sed -n 's/^lambda-extension-identifier: *//Ip'
}
next() { curl -sS -H "Lambda-Extension-Identifier: $1" "$API/event/next"; }
`;

const COUNTER = `${PRELUDE}
ID=$(register counter '["INVOKE","SHUTDOWN"]')
N=0
while true; do
  EV=$(next "$ID")
  case "$EV" in
    *'"SHUTDOWN"'*) break ;;
    *'"INVOKE"'*) N=$((N + 1)) ;;
  esac
done
curl -sS -o /dev/null --aws-sigv4 "aws:amz:$AWS_REGION:sqs" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \\
  -H "X-Amz-Security-Token: $AWS_SESSION_TOKEN" --data-urlencode Action=SendMessage \\
  --data-urlencode "QueueUrl=$COUNT_QUEUE" --data-urlencode "MessageBody=SHUTDOWN $N" "$AWS_ENDPOINT_URL/"
`;
const SLEEPER = '#!/bin/sh\nexec sleep 600\n';
/** Done with each invocation 1.2 s after its INVOKE (a flush, say): the environment's next one waits for it. */
const LINGERING = `${PRELUDE}
ID=$(register lingering '["INVOKE"]')
next "$ID" > /dev/null
while true; do
  sleep 1.2
  next "$ID" > /dev/null
done
`;
const CRASHER = `${PRELUDE}
ID=$(register crasher '["INVOKE"]')
next "$ID" > /dev/null
exit 3
`;
const STUCK = `${PRELUDE}
ID=$(register stuck '["INVOKE"]')
next "$ID" > /dev/null
exec sleep 600
`;

/**
 * Registers, and on its first INVOKE misbehaves against the Extensions API (Debian's python3, in every
 * sandbox under /usr): a crowd of connections, a slow client left open, an oversized head and body,
 * garbage, a forged name and identifier, bad events. Prints what each got, then asks for its next event.
 * (After registering, not before: on a busy host the probes may take longer than the 2 s register bound.)
 */
const HOSTILE = `#!/usr/bin/python3
import json, os, socket
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
addr = (host, int(port))
API = b"/2020-01-01/extension"
CRLF = b"\\r\\n"

def status(raw):
    s = socket.create_connection(addr, timeout=5)
    try:
        s.sendall(raw)
        data = b""
        while CRLF not in data and len(data) < 65536:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data[9:12].decode() if data.startswith(b"HTTP/1.") else ("closed" if not data else "other")
    except OSError:
        return "closed"
    finally:
        s.close()

def request(line, headers, body=b""):
    return line + CRLF + b"".join(h + CRLF for h in headers) + CRLF + body

def register(name, body):
    return request(b"POST " + API + b"/register HTTP/1.1",
                   [b"Lambda-Extension-Name: " + name, b"Content-Length: %d" % len(body)], body)

def next_event(ident):
    s = socket.create_connection(addr)
    s.sendall(request(b"GET " + API + b"/event/next HTTP/1.1",
                      [b"Lambda-Extension-Identifier: " + ident.encode(), b"Connection: close"]))
    while s.recv(65536):
        pass
    s.close()

s = socket.create_connection(addr)
s.sendall(register(b"hostile", b'{"events":["INVOKE"]}'))
head = s.recv(65536).decode()
s.close()
ident = [l.split(":", 1)[1].strip() for l in head.split("\\r\\n") if l.lower().startswith("lambda-extension-identifier:")][0]
next_event(ident)

crowd = []
for _ in range(48):
    try:
        crowd.append(socket.create_connection(addr, timeout=5))
    except OSError:
        pass
for s in crowd:
    s.close()
slow = socket.create_connection(addr)
slow.sendall(b"GET /2020-01-01/ext")
got = {
    "hugeHead": status(request(b"GET " + API + b"/event/next HTTP/1.1", [b"X-Big: " + b"a" * 70000])),
    "hugeBody": status(request(b"POST " + API + b"/register HTTP/1.1",
                               [b"Lambda-Extension-Name: hostile", b"Content-Length: 10000000"])),
    "garbage": status(request(b"BREW /x HTTP/9.9", [])),
    "unknownName": status(register(b"nobody", b"{}")),
    "badEvents": status(register(b"hostile", b'{"events":["FOO"]}')),
    "forgedId": status(request(b"GET " + API + b"/event/next HTTP/1.1", [b"Lambda-Extension-Identifier: forged"])),
}
slow.close()
print("HOSTILE " + json.dumps(got, sort_keys=True), flush=True)
while True:
    next_event(ident)
`;

/** The function's code per runtime: it answers {got: event}, a second later when the event says `slow`. */
const RUNTIMES = {
  'python3.12': {
    handler: 'lambda_function.lambda_handler',
    files: [
      {
        name: 'lambda_function.py',
        data: 'import time\ndef lambda_handler(e, c):\n    e.pop("slow", None) and time.sleep(1)\n    return {"got": e}\n',
      },
    ],
  },
  'provided.al2023': {
    handler: 'function.handler',
    files: [
      {
        name: 'bootstrap',
        mode: 0o100755,
        data: `#!/bin/bash
set -euo pipefail
RAPI="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
while true; do
  HEADERS="$(mktemp)"
  EV=$(curl -sS -D "$HEADERS" "$RAPI/invocation/next")
  ID=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  case "$EV" in *'"slow"'*) sleep 1; EV=$(echo "$EV" | sed 's/,"slow":true//') ;; esac
  curl -sS -o /dev/null "$RAPI/invocation/$ID/response" -d "{\\"got\\":$EV}"
done
`,
      },
    ],
  },
} as const;

for (const [runtime, code] of Object.entries(RUNTIMES)) {
  const tag = runtime.startsWith('python') ? 'py' : 'prov';

  async function withExtension(
    fn: string,
    file: string,
    source: string,
    env: Record<string, string> = {},
    timeout = 3,
  ) {
    const layer = await lambda.send(
      new PublishLayerVersionCommand({
        LayerName: `${tag}-ext-${file}`,
        Content: { ZipFile: await zipOf([{ name: `extensions/${file}`, data: source, mode: 0o100755 }]) },
      }),
    );
    await lambda.send(
      new CreateFunctionCommand({
        FunctionName: fn,
        Runtime: runtime as 'python3.12',
        Handler: code.handler,
        Role: 'arn:aws:iam::000000000000:role/test',
        Code: { ZipFile: await zipOf([...code.files]) },
        Layers: [layer.LayerVersionArn!],
        Environment: { Variables: env },
        Timeout: timeout,
      }),
    );
  }

  async function invoke(fn: string, n: number, slow = false): Promise<string> {
    const event = slow ? { n, slow } : { n };
    const out = await lambda.send(
      new InvokeCommand({ FunctionName: fn, Payload: Buffer.from(JSON.stringify(event)), LogType: 'Tail' }),
    );
    const text = Buffer.from(out.Payload ?? []).toString();
    const log = Buffer.from(out.LogResult ?? '', 'base64').toString();
    assert.equal(out.FunctionError, undefined, `${text}\n${log}`);
    assert.deepEqual(JSON.parse(text), { got: { n } });
    return log;
  }

  describe(runtime, () => {
    test('an extension is sent every INVOKE and, when the environment is retired, SHUTDOWN', async () => {
      const q = await sqs.send(new CreateQueueCommand({ QueueName: `${tag}-ext-counts` }));
      await withExtension(`${tag}-counted`, 'counter', COUNTER, { COUNT_QUEUE: q.QueueUrl! });
      for (let i = 0; i < 3; i++) await invoke(`${tag}-counted`, i);
      // A configuration change retires the environment: its extension gets SHUTDOWN and flushes.
      await lambda.send(
        new UpdateFunctionConfigurationCommand({ FunctionName: `${tag}-counted`, Description: 'next' }),
      );
      const seen: string[] = [];
      for (let i = 0; i < 10 && seen.length === 0; i++) {
        const got = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl: q.QueueUrl!, WaitTimeSeconds: 2, MaxNumberOfMessages: 10 }),
        );
        for (const m of got.Messages ?? []) seen.push(m.Body!);
      }
      assert.deepEqual(seen, ['SHUTDOWN 3']);
    });

    test('a hostile extension gets errors, bounded, and the API and the invokes go on', async () => {
      // The second invocation waits (up to the first's 10 s deadline) until the probes are done.
      await withExtension(`${tag}-hostile`, 'hostile', HOSTILE, {}, 10);
      let log = (await invoke(`${tag}-hostile`, 1)) + (await invoke(`${tag}-hostile`, 2));
      // An extension's output reaches the log through a pipe, beside (not before) its next API call, as on
      // Lambda: the line it printed just before asking for its next event may land in a later invocation's
      // log (seen under load: the second invocation ended first).
      for (let n = 3; n < 8 && !/HOSTILE \{/.test(log); n++) log += await invoke(`${tag}-hostile`, n);
      const got = JSON.parse(/HOSTILE (\{.*\})/.exec(log)?.[1] ?? '{}') as Record<string, string>;
      assert.match(got.garbage ?? '', /^[45]\d\d$/, log);
      delete got.garbage;
      assert.deepEqual(got, {
        badEvents: '400',
        forgedId: '403',
        hugeBody: '413',
        hugeHead: '431',
        unknownName: '403',
      });
      // Nothing failed: it was served every INVOKE and asked for the next in time.
      assert.doesNotMatch(log, /State: Failed/);
    });

    test('an extension that never registers does not stop the invoke; it is reported in the log', async () => {
      await withExtension(`${tag}-sleepy`, 'sleeper', SLEEPER);
      const log = await invoke(`${tag}-sleepy`, 1);
      assert.match(log, /EXTENSION\tName: sleeper\tState: Failed\tReason: did not register/);
    });

    test('an extension that crashes does not stop the invoke', async () => {
      await withExtension(`${tag}-crashy`, 'crasher', CRASHER);
      // It dies on its first INVOKE, during or just after that invocation: reported in one of the two logs.
      const log = (await invoke(`${tag}-crashy`, 1)) + (await invoke(`${tag}-crashy`, 2));
      assert.match(log, /EXTENSION\tName: crasher\tState: Failed\tReason: exited \(3\)/);
    });

    test('an extension that never calls /event/next again does not stop the invokes; its environment is retired', async () => {
      await withExtension(`${tag}-stuck`, 'stuck', STUCK);
      await invoke(`${tag}-stuck`, 1);
      // The next invocation waits for it no longer than the last one's deadline, answers, and is reported.
      const log = await invoke(`${tag}-stuck`, 2);
      assert.match(log, /EXTENSION\tName: stuck\tState: Failed\tReason: did not call \/event\/next/);
      await invoke(`${tag}-stuck`, 3);
    });

    test("the time an extension takes after an invocation is not taken from the next one's timeout", async () => {
      // As in extensions.test.ts: timeout 2 s, the second invocation waits ~1.2 s for the extension to be
      // done with the first, then takes 1 s; counted from its arrival it would have timed out.
      await withExtension(`${tag}-lingering`, 'lingering', LINGERING, {}, 2);
      await invoke(`${tag}-lingering`, 1);
      const log = await invoke(`${tag}-lingering`, 2, true);
      // It answered (invoke() checks): not timed out. Its REPORT still counts the wait.
      assert.match(log, /REPORT RequestId: \S+\tDuration: /);
      assert.doesNotMatch(log, /EXTENSION\tName: lingering\tState: Failed/);
    });
  });
}

test('a Python function without extensions loads none of their machinery', async () => {
  await lambda.send(
    new CreateFunctionCommand({
      FunctionName: 'py-no-ext',
      Runtime: 'python3.12',
      Handler: 'lambda_function.lambda_handler',
      Role: 'arn:aws:iam::000000000000:role/test',
      Code: {
        ZipFile: await zipOf([
          {
            name: 'lambda_function.py',
            data:
              'import sys\ndef lambda_handler(e, c):\n' +
              '    return [m for m in ("_kindling_extensions", "http.server", "subprocess") if m in sys.modules]\n',
          },
        ]),
      },
    }),
  );
  const out = await lambda.send(new InvokeCommand({ FunctionName: 'py-no-ext' }));
  assert.deepEqual(JSON.parse(Buffer.from(out.Payload ?? []).toString()), []);
});

test("a function that forges every invocation's 'start' frame cannot stretch its timeout from one to the next", async () => {
  // Python code can reach the bootstrap's channel: it drops the runtime's own `start` frames and sends its
  // own, an hour away, each invocation. Were each moved deadline the next hold's bound, every invocation
  // would add about a timeout to the next one's; bounded by a timeout after each answer, the last one,
  // sleeping 3.5 s against a 1 s timeout, still times out (at most ~2 s: the hold's bound plus its own).
  const layer = await lambda.send(
    new PublishLayerVersionCommand({
      LayerName: 'py-ext-brief',
      Content: {
        ZipFile: await zipOf([
          {
            name: 'extensions/brief',
            data: `${PRELUDE}\nID=$(register brief '["INVOKE"]')\nnext "$ID" > /dev/null\nwhile true; do sleep 0.3; next "$ID" > /dev/null; done\n`,
            mode: 0o100755,
          },
        ]),
      },
    }),
  );
  const handler = `import gc, json, time
def forge(ch):
    send = type(ch).send
    def only_forged(header, body=b""):
        if header.get("t") != "start":
            send(ch, header, body)
    ch.send = only_forged
    return send
def lambda_handler(e, c):
    ch = next(o for o in gc.get_objects() if type(o).__name__ == "Channel")
    send = type(ch).send if "send" in vars(ch) else forge(ch)
    send(ch, {"t": "start", "id": c.aws_request_id, "deadline": int(time.time() * 1000) + 3600000})
    time.sleep(e.get("sleep", 0))
    return "ok"
`;
  await lambda.send(
    new CreateFunctionCommand({
      FunctionName: 'py-forger',
      Runtime: 'python3.12',
      Handler: 'lambda_function.lambda_handler',
      Role: 'arn:aws:iam::000000000000:role/test',
      Code: { ZipFile: await zipOf([{ name: 'lambda_function.py', data: handler }]) },
      Layers: [layer.LayerVersionArn!],
      Timeout: 1,
    }),
  );
  const call = async (event: object) =>
    lambda.send(
      new InvokeCommand({ FunctionName: 'py-forger', Payload: Buffer.from(JSON.stringify(event)) }),
    );
  for (let i = 0; i < 8; i++) {
    const out = await call({});
    assert.equal(out.FunctionError, undefined, Buffer.from(out.Payload ?? []).toString());
  }
  const out = await call({ sleep: 3.5 });
  assert.equal(out.FunctionError, 'Unhandled');
  assert.match(Buffer.from(out.Payload ?? []).toString(), /Task timed out after 1\.00 seconds/);
});
