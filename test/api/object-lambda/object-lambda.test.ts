// S3 Object Lambda end to end: unmodified S3 and S3 Control clients, real sandboxes, the function's own SDK
// calling WriteGetObjectResponse through its relay.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CreateFunctionCommand, DeleteFunctionCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  CreateAccessPointCommand,
  CreateAccessPointForObjectLambdaCommand,
  type S3ControlClient,
} from '@aws-sdk/client-s3-control';
import { zipDirectory } from '../../../src/cli/deploy.js';
import { createFunction, lambdaClient } from '../../helpers/functions.js';
import { repoRoot, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { arnS3Client, controlClient } from '../s3control/clients.js';

const CSV = 'name,country,email\nada,NO,ada@example.com\nbob,SE,bob@example.com\ncyd,NO,cyd@example.com\n';

// One function, told by each access point's payload how to (mis)behave.
const BEHAVIOURS = `
import { GetObjectCommand, PutObjectCommand, S3Client, WriteGetObjectResponseCommand } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
const s3 = new S3Client({});
export const handler = async (event) => {
  const { outputRoute: RequestRoute, outputToken: RequestToken } = event.getObjectContext;
  const write = (fields, token = RequestToken) =>
    s3.send(new WriteGetObjectResponseCommand({ RequestRoute, RequestToken: token, ...fields }));
  const outcome = (p) => p.then(() => 'accepted', (e) => e.name);
  switch (event.configuration.payload) {
    case 'echo':
      await write({ Body: JSON.stringify(event), ContentType: 'application/json', Metadata: { mode: 'echo' } });
      return;
    case 'returns':
      return { statusCode: 200 };
    case 'hang':
      await new Promise((r) => setTimeout(r, 60_000));
      return;
    case 'throw':
      throw new Error('boom');
    case 'error':
      await write({ StatusCode: 403, ErrorCode: 'NoRowsForYou', ErrorMessage: 'not these rows' });
      return;
    case 'wrong-token': {
      const first = await outcome(write({ Body: 'forged' }, RequestToken + 'x'));
      await write({ Body: 'refused:' + first });
      return;
    }
    case 'stream': {
      // The tail waits until the caller has read the head: a buffered answer would never get there.
      async function* parts() {
        yield Buffer.from('head\\n');
        for (let i = 0; i < 100; i++) {
          const go = await s3.send(new GetObjectCommand({ Bucket: process.env.MARKER_BUCKET, Key: 'stream-go' })).then(() => true, () => false);
          if (go) break;
          await new Promise((r) => setTimeout(r, 50));
        }
        yield Buffer.from('tail\\n');
      }
      await write({ Body: Readable.from(parts()) });
      return;
    }
    case 'twice': {
      await write({ Body: 'first' });
      const second = await outcome(write({ Body: 'second' }));
      await s3.send(new PutObjectCommand({ Bucket: process.env.MARKER_BUCKET, Key: 'twice-result', Body: second }));
      return;
    }
  }
};
`;

let t: TestPlatform;
let account: string;
let lambda: LambdaClient;
let control: S3ControlClient;
let s3: S3Client;
let plain: S3Client;
const bucket = `olambda-${process.pid}`;

const olArn = (name: string, acct = account) =>
  `arn:aws:s3-object-lambda:${t.region}:${acct}:accesspoint/${name}`;

async function objectLambda(name: string, functionName: string, payload: string): Promise<string> {
  await control.send(
    new CreateAccessPointForObjectLambdaCommand({
      AccountId: account,
      Name: name,
      Configuration: {
        SupportingAccessPoint: `arn:aws:s3:${t.region}:${account}:accesspoint/csv`,
        TransformationConfigurations: [
          {
            Actions: ['GetObject'],
            ContentTransformation: {
              AwsLambda: {
                FunctionArn: `arn:aws:lambda:${t.region}:${account}:function:${functionName}`,
                FunctionPayload: payload,
              },
            },
          },
        ],
      },
    }),
  );
  return olArn(name);
}

const get = async (name: string, key = 'people.csv') =>
  s3.send(new GetObjectCommand({ Bucket: olArn(name), Key: key }));

before(async () => {
  t = await startPlatform();
  account = (await t.platform.tenants.resolveKey(t.credentials.accessKeyId))!.tenant.accountId;
  lambda = lambdaClient(t);
  control = controlClient(t);
  s3 = arnS3Client(t);
  plain = arnS3Client(t, true);
  await plain.send(new CreateBucketCommand({ Bucket: bucket }));
  await plain.send(
    new PutObjectCommand({ Bucket: bucket, Key: 'people.csv', Body: CSV, ContentType: 'text/csv' }),
  );
  await control.send(new CreateAccessPointCommand({ AccountId: account, Name: 'csv', Bucket: bucket }));
  // Exactly the README's example, as it is in examples/.
  await lambda.send(
    new CreateFunctionCommand({
      FunctionName: 'csv-filter',
      Runtime: 'nodejs20.x',
      Handler: 'index.handler',
      Role: 'arn:aws:iam::123456789012:role/any',
      Code: { ZipFile: await zipDirectory(path.join(repoRoot, 'examples/object-lambda-csv')) },
    }),
  );
  await createFunction(lambda, 'behaviours', BEHAVIOURS, {
    Timeout: 3,
    Environment: { Variables: { MARKER_BUCKET: bucket } },
  });
  await objectLambda('filtered', 'csv-filter', JSON.stringify({ where: 'country=NO', redact: 'email' }));
  for (const mode of ['stream', 'echo', 'returns', 'hang', 'throw', 'error', 'wrong-token', 'twice'])
    await objectLambda(mode, 'behaviours', mode);
});

after(async () => {
  await t?.close();
});

test('the README example filters the CSV to the rows the payload asks for and redacts a column', async () => {
  const out = await get('filtered');
  assert.equal(out.ContentType, 'text/csv');
  assert.equal(await out.Body!.transformToString(), 'name,country,email\nada,NO,REDACTED\ncyd,NO,REDACTED\n');
  // The user request's own `where` wins over the access point's payload.
  const where = arnS3Client(t);
  where.middlewareStack.add(
    (next) => async (args) => {
      (args.request as { query: Record<string, string> }).query.where = 'name=bob';
      return next(args);
    },
    { step: 'build' },
  );
  const bob = await where.send(new GetObjectCommand({ Bucket: olArn('filtered'), Key: 'people.csv' }));
  assert.equal(await bob.Body!.transformToString(), 'name,country,email\nbob,SE,REDACTED\n');
  // The original is untouched, read directly.
  const original = await plain.send(new GetObjectCommand({ Bucket: bucket, Key: 'people.csv' }));
  assert.equal(await original.Body!.transformToString(), CSV);
});

test('the function gets Lambda’s Object Lambda event, and its headers reach the caller', async () => {
  const out = await get('echo', 'dir/a b.csv');
  assert.equal(out.ContentType, 'application/json');
  assert.deepEqual(out.Metadata, { mode: 'echo' });
  const event = JSON.parse(await out.Body!.transformToString());
  assert.equal(event.protocolVersion, '1.00');
  assert.match(event.xAmzRequestId, /^[0-9A-F]{16}$/);
  assert.equal(event.getObjectContext.outputRoute, 'io-kindling');
  assert.ok(event.getObjectContext.outputToken.length >= 32);
  assert.deepEqual(event.configuration, {
    accessPointArn: olArn('echo'),
    supportingAccessPointArn: `arn:aws:s3:${t.region}:${account}:accesspoint/csv`,
    payload: 'echo',
  });
  assert.match(event.userRequest.url, /\/dir\/a%20b\.csv/);
  assert.match(event.userRequest.headers.host, new RegExp(`^echo-${account}\\.`));
  assert.equal(event.userRequest.headers.authorization, undefined);
  assert.equal(event.userIdentity.accountId, account);
  // The input URL is a presigned GET through the supporting access point; this key is missing.
  const input = new URL(event.getObjectContext.inputS3Url);
  assert.equal(input.hostname, '127.0.0.1');
  assert.match(input.pathname, /^\/csv-[a-z0-9]+-s3alias\/dir\/a%20b\.csv$/);
  assert.equal(input.searchParams.get('X-Amz-SignedHeaders'), 'host');
  assert.equal((await fetch(input)).status, 404);
  // The same URL for the object that exists answers the original bytes, without credentials.
  const people = await get('echo');
  const url = JSON.parse(await people.Body!.transformToString()).getObjectContext.inputS3Url;
  assert.equal(await (await fetch(url)).text(), CSV);
});

test('the caller gets the function’s bytes as they are written, not once it has finished', async () => {
  const out = await get('stream');
  const body = (out.Body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  const first = await body.next();
  assert.equal(Buffer.from(first.value as Uint8Array).toString(), 'head\n');
  await plain.send(new PutObjectCommand({ Bucket: bucket, Key: 'stream-go', Body: 'go' }));
  let rest = '';
  for (let n = await body.next(); !n.done; n = await body.next()) rest += Buffer.from(n.value).toString();
  assert.equal(rest, 'tail\n');
});

test('a function that never calls WriteGetObjectResponse: LambdaTimeout when it times out, LambdaResponseNotReceived when it returns', async () => {
  await assert.rejects(get('hang'), (e: Error & { $metadata?: { httpStatusCode?: number } }) => {
    assert.equal(e.name, 'LambdaTimeout');
    assert.equal(e.$metadata?.httpStatusCode, 500);
    return true;
  });
  await assert.rejects(get('returns'), (e: Error & { $metadata?: { httpStatusCode?: number } }) => {
    assert.equal(e.name, 'LambdaResponseNotReceived');
    assert.equal(e.$metadata?.httpStatusCode, 500);
    return true;
  });
});

test('a function that throws: LambdaRuntimeError; one that answers an error: the caller gets that error', async () => {
  await assert.rejects(get('throw'), { name: 'LambdaRuntimeError' });
  await assert.rejects(get('error'), (e: Error & { $metadata?: { httpStatusCode?: number } }) => {
    assert.equal(e.name, 'NoRowsForYou');
    assert.equal(e.message, 'not these rows');
    assert.equal(e.$metadata?.httpStatusCode, 403);
    return true;
  });
});

test('a wrong token is refused and the caller still gets the answer sent with the right one', async () => {
  const out = await get('wrong-token');
  assert.equal(await out.Body!.transformToString(), 'refused:InvalidToken');
});

test('a second WriteGetObjectResponse with the same token is refused', async () => {
  const out = await get('twice');
  assert.equal(await out.Body!.transformToString(), 'first');
  let result: string | undefined;
  for (let i = 0; i < 50 && result === undefined; i++) {
    result = await plain
      .send(new GetObjectCommand({ Bucket: bucket, Key: 'twice-result' }))
      .then((o) => o.Body!.transformToString())
      .catch(() => new Promise<undefined>((r) => setTimeout(() => r(undefined), 100)));
  }
  assert.equal(result, 'InvalidToken');
});

test('another tenant’s Object Lambda access point answers like a missing one', async () => {
  const other = await t.platform.tenants.create('intruder');
  const key = await t.platform.tenants.createKey(other.id);
  const theirs = arnS3Client({
    ...t,
    credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
  });
  // A's ARN signed by B, and A's name under B's own account: both missing.
  for (const Bucket of [olArn('filtered'), olArn('filtered', other.accountId)])
    await assert.rejects(theirs.send(new GetObjectCommand({ Bucket, Key: 'people.csv' })), {
      name: 'NoSuchAccessPoint',
    });
});

test('a deleted function answers LambdaNotFound', async () => {
  await createFunction(lambda, 'short-lived', 'export const handler = async () => ({});');
  await objectLambda('orphan', 'short-lived', '');
  await lambda.send(new DeleteFunctionCommand({ FunctionName: 'short-lived' }));
  await assert.rejects(get('orphan'), (e: Error & { $metadata?: { httpStatusCode?: number } }) => {
    assert.equal(e.name, 'LambdaNotFound');
    assert.equal(e.$metadata?.httpStatusCode, 404);
    return true;
  });
});
