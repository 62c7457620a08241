// However a request's body arrives — in the head's packet, after it, split across packets, or pipelined
// behind another request — the function gets exactly that body, and a body that is not the one signed is
// refused. (A body that came whole with its head is taken straight from the parser's buffer; the others
// go through the stream's events.)
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CreateFunctionCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { sdkConfig, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { handlerZip } from '../lambda/zips.js';
import { connect, signedHead, statusOf, within } from './helpers.js';

let p: TestPlatform;
let lambda: LambdaClient;
const INVOKE = '/2015-03-31/functions/echo/invocations';

before(async () => {
  p = await startPlatform();
  lambda = new LambdaClient(sdkConfig(p));
  await lambda.send(
    new CreateFunctionCommand({
      FunctionName: 'echo',
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      Role: 'arn:aws:iam::1:role/r',
      Code: { ZipFile: await handlerZip('export const handler = async (event) => ({ got: event });') },
    }),
  );
});
after(async () => {
  lambda.destroy();
  await p.close();
});

const head = (body: string, extra: Record<string, string> = {}) =>
  signedHead(p.endpoint, p.credentials, {
    method: 'POST',
    path: INVOKE,
    service: 'lambda',
    body,
    headers: { 'content-type': 'application/json', ...extra },
  });

/** The bodies of the HTTP/1.1 responses in `raw`, in order (each framed by its Content-Length). */
function bodiesOf(raw: string): Array<{ status: number; body: string }> {
  const out: Array<{ status: number; body: string }> = [];
  let rest = raw;
  while (rest.startsWith('HTTP/1.1')) {
    const end = rest.indexOf('\r\n\r\n');
    const length = Number(/\r\ncontent-length: (\d+)/i.exec(rest.slice(0, end))?.[1] ?? 0);
    out.push({ status: statusOf(rest), body: rest.slice(end + 4, end + 4 + length) });
    rest = rest.slice(end + 4 + length);
  }
  return out;
}

/** Writes each part in turn, `gapMs` apart, then waits for `answers` responses. */
async function send(
  parts: string[],
  answers: number,
  gapMs = 60,
): Promise<Array<{ status: number; body: string }>> {
  const c = await connect(p.endpoint);
  for (const [i, part] of parts.entries()) {
    if (i > 0) await new Promise((r) => setTimeout(r, gapMs));
    c.socket.write(part);
  }
  const done = new Promise<void>((resolve) => {
    const check = () => {
      if (bodiesOf(c.received()).length >= answers) resolve();
    };
    c.socket.on('data', check);
    check();
  });
  await within(done, 15_000, `${answers} answer(s)`);
  c.socket.destroy();
  return bodiesOf(c.received());
}

const event = (n: number) => JSON.stringify({ n, pad: 'x'.repeat(200 + n) });

test('a body in the same packet as its head reaches the function whole', async () => {
  const [r] = await send([head(event(1)) + event(1)], 1);
  assert.equal(r!.status, 200, r!.body);
  assert.deepEqual(JSON.parse(r!.body), { got: JSON.parse(event(1)) });
});

test('a body sent after its head, or split across packets, reaches the function whole', async () => {
  const [late] = await send([head(event(2)), event(2)], 1);
  assert.equal(late!.status, 200, late!.body);
  assert.deepEqual(JSON.parse(late!.body), { got: JSON.parse(event(2)) });
  const body = event(3);
  const [split] = await send([head(body) + body.slice(0, 50), body.slice(50, 120), body.slice(120)], 1);
  assert.equal(split!.status, 200, split!.body);
  assert.deepEqual(JSON.parse(split!.body), { got: JSON.parse(body) });
});

test('pipelined requests in one packet each get their own body, in order', async () => {
  const bodies = [event(4), event(5), event(6)];
  const rs = await send([bodies.map((b) => head(b) + b).join('')], 3);
  assert.equal(rs.length, 3);
  for (const [i, r] of rs.entries()) {
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(JSON.parse(r.body), { got: JSON.parse(bodies[i]!) });
  }
});

test('a body of the declared length that is not the signed one is refused, however it arrives', async () => {
  const signed = event(7);
  const forged = signed.replace('"n":7', '"n":8');
  assert.equal(forged.length, signed.length);
  for (const parts of [[head(signed) + forged], [head(signed), forged]]) {
    const [r] = await send(parts, 1);
    assert.equal(r!.status, 403, r!.body);
    assert.match(r!.body, /signature/i);
  }
});
