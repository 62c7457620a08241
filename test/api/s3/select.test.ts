// SelectObjectContent (S3 Select) through the unmodified SDK, the AWS CLI and raw requests: records in
// the event-stream framing, S3's XML errors before the stream, an error event once it has started,
// unknown request elements refused by name, and another tenant's object answered as S3 answers it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import {
  CreateBucketCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
  S3ServiceException,
  SelectObjectContentCommand,
  type SelectObjectContentCommandInput,
} from '@aws-sdk/client-s3';
import { tempDir } from '../../helpers/platform.js';
import {
  bucketName,
  client,
  objectPath,
  rawRequest,
  type S3Fixture,
  signHeaders,
  startS3,
} from './fixtures.js';

const run = promisify(execFile);

let f: S3Fixture;
let bucket: string;
let other: S3Client;
const PEOPLE = 'name,age,city\nAda,36,London\nBob,41,Berlin\n"Lovelace, Jr",7,Paris\nCy,19,Oslo\n';
/** Enough rows that records go out in several events before the row that cannot be cast. */
const MANY = `id,v\n${Array.from({ length: 100_000 }, (_, i) => `${i},${i === 99_999 ? 'oops' : i}`).join('\n')}\n`;

before(async () => {
  f = await startS3();
  bucket = bucketName('select');
  await f.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const put = (Key: string, Body: string | Buffer) =>
    f.s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body }));
  await put('people.csv', PEOPLE);
  await put('people.csv.gz', gzipSync(PEOPLE));
  await put('many.csv', MANY);
  await put(
    'events.jsonl',
    '{"id":1,"kind":"click","user":{"name":"ann"}}\n{"id":2,"kind":"view"}\n{"id":3,"kind":"click","user":{"name":"cy"}}\n',
  );
  await put(
    'image.png',
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0xff, 0xd8, 0x0a, 0xfe, 0x00]),
  );
  const tenant = await f.t.platform.tenants.create('select-other');
  const key = await f.t.platform.tenants.createKey(tenant.id);
  other = client({ endpoint: f.t.endpoint, credentials: key });
});
after(async () => {
  f.s3.destroy();
  other.destroy();
  await f.t.close();
});

const csvRequest = (
  Key: string,
  Expression: string,
  extra: Partial<SelectObjectContentCommandInput> = {},
): SelectObjectContentCommandInput => ({
  Bucket: bucket,
  Key,
  Expression,
  ExpressionType: 'SQL',
  InputSerialization: { CSV: { FileHeaderInfo: 'USE' }, CompressionType: 'NONE' },
  OutputSerialization: { CSV: {} },
  ...extra,
});

interface Collected {
  records: string;
  events: string[];
  stats?: { BytesScanned?: number; BytesProcessed?: number; BytesReturned?: number };
  progress: number;
}

async function select(input: SelectObjectContentCommandInput, s3 = f.s3): Promise<Collected> {
  const out = await s3.send(new SelectObjectContentCommand(input));
  const c: Collected = { records: '', events: [], progress: 0 };
  for await (const ev of out.Payload!) {
    if (ev.Records) c.records += Buffer.from(ev.Records.Payload!).toString();
    if (ev.Stats) c.stats = ev.Stats.Details;
    if (ev.Progress) c.progress++;
    c.events.push(Object.keys(ev).find((k) => (ev as unknown as Record<string, unknown>)[k] !== undefined)!);
  }
  return c;
}

async function rejectsWith(p: Promise<unknown>, code: string, status = 400): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof S3ServiceException, String(e));
    assert.equal(e.name, code);
    assert.equal(e.$metadata.httpStatusCode, status);
    return true;
  });
}

test('the SDK reads the records a CSV query selects, then Stats and End', async () => {
  const c = await select(
    csvRequest(
      'people.csv',
      "SELECT s.name, s.city FROM S3Object s WHERE CAST(s.age AS INT) > 18 AND s.city <> 'Oslo'",
    ),
  );
  assert.equal(c.records, 'Ada,London\nBob,Berlin\n');
  assert.deepEqual(c.events.slice(-2), ['Stats', 'End']);
  assert.equal(c.stats?.BytesScanned, Buffer.byteLength(PEOPLE));
  assert.equal(c.stats?.BytesProcessed, Buffer.byteLength(PEOPLE));
  assert.equal(c.stats?.BytesReturned, Buffer.byteLength(c.records));
});

test('JSON lines to JSON with RequestProgress: typed values, nested paths and Progress events', async () => {
  const c = await select({
    Bucket: bucket,
    Key: 'events.jsonl',
    Expression: "SELECT s.id, s.user.name AS who FROM S3Object[*] s WHERE s.kind = 'click' LIMIT 5",
    ExpressionType: 'SQL',
    InputSerialization: { JSON: { Type: 'LINES' } },
    OutputSerialization: { JSON: { RecordDelimiter: '\n' } },
    RequestProgress: { Enabled: true },
  });
  assert.equal(c.records, '{"id":1,"who":"ann"}\n{"id":3,"who":"cy"}\n');
  assert.ok(c.progress >= 1);
});

test('a GZIP object is selected through CompressionType GZIP; BytesScanned counts the compressed bytes', async () => {
  const c = await select(
    csvRequest('people.csv.gz', 'SELECT COUNT(*) FROM S3Object', {
      InputSerialization: { CSV: { FileHeaderInfo: 'USE' }, CompressionType: 'GZIP' },
    }),
  );
  assert.equal(c.records, '4\n');
  assert.equal(c.stats?.BytesScanned, gzipSync(PEOPLE).length);
  assert.equal(c.stats?.BytesProcessed, Buffer.byteLength(PEOPLE));
});

test('malformed SQL is an XML error before the stream starts: ParseUnexpectedToken, 400', async () => {
  await rejectsWith(
    f.s3.send(new SelectObjectContentCommand(csvRequest('people.csv', 'SELECT * S3Object'))),
    'ParseUnexpectedToken',
  );
});

test('a column the CSV header lacks is EvaluatorBindingDoesNotExist, before the stream starts', async () => {
  await rejectsWith(
    f.s3.send(new SelectObjectContentCommand(csvRequest('people.csv', 'SELECT s.salary FROM S3Object s'))),
    'EvaluatorBindingDoesNotExist',
  );
});

test('a binary object read as CSV is InvalidTextEncoding', async () => {
  await rejectsWith(
    f.s3.send(
      new SelectObjectContentCommand(
        csvRequest('image.png', 'SELECT * FROM S3Object', {
          InputSerialization: { CSV: { FileHeaderInfo: 'NONE' } },
        }),
      ),
    ),
    'InvalidTextEncoding',
  );
});

test('a failure after records were sent arrives as an error event the SDK throws', async () => {
  const out = await f.s3.send(
    new SelectObjectContentCommand(csvRequest('many.csv', 'SELECT CAST(v AS INT) FROM S3Object')),
  );
  let records = '';
  await assert.rejects(
    (async () => {
      for await (const ev of out.Payload!)
        if (ev.Records) records += Buffer.from(ev.Records.Payload!).toString();
    })(),
    (e: Error) => {
      assert.equal(e.name, 'CastFailed');
      return true;
    },
  );
  assert.ok(records.startsWith('0\n1\n2\n'), records.slice(0, 20));
});

test('an expression over 256 KB is ExpressionTooLong', async () => {
  const sql = `SELECT * FROM S3Object s WHERE s.name = '${'x'.repeat(300 * 1024)}'`;
  await rejectsWith(
    f.s3.send(new SelectObjectContentCommand(csvRequest('people.csv', sql))),
    'ExpressionTooLong',
  );
});

test('ExpressionType other than SQL is InvalidExpressionType', async () => {
  await rejectsWith(
    f.s3.send(
      new SelectObjectContentCommand(
        csvRequest('people.csv', 'SELECT * FROM S3Object', { ExpressionType: 'XPATH' as 'SQL' }),
      ),
    ),
    'InvalidExpressionType',
  );
});

/** A signed raw SelectObjectContent request with the given XML body. */
async function rawSelect(key: string, xml: string) {
  const p = `${objectPath(bucket, key)}?select&select-type=2`;
  const body = Buffer.from(xml);
  const signed = signHeaders(
    f.t.endpoint,
    f.t.credentials,
    'POST',
    p,
    { 'content-type': 'application/xml' },
    createHash('sha256').update(body).digest('hex'),
  );
  return rawRequest(`${f.t.endpoint}${p}`, { method: 'POST', headers: signed.headers, body });
}

const doc = (input: string, extra = '') =>
  `<SelectObjectContentRequest xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Expression>SELECT * FROM S3Object</Expression><ExpressionType>SQL</ExpressionType><InputSerialization>${input}</InputSerialization><OutputSerialization><CSV/></OutputSerialization>${extra}</SelectObjectContentRequest>`;

test('an unknown XML element is refused with MalformedXML naming it, never ignored', async () => {
  const res = await rawSelect(
    'people.csv',
    doc('<CSV><FileHeaderInfo>USE</FileHeaderInfo><Skip>1</Skip></CSV>'),
  );
  assert.equal(res.status, 400);
  assert.match(res.body, /<Code>MalformedXML<\/Code>/);
  assert.match(res.body, /&lt;Skip&gt;/);
});

test('features not built are refused by name: ScanRange, JSON DOCUMENT, Parquet, BZIP2', async () => {
  for (const [xml, what] of [
    [doc('<CSV/>', '<ScanRange><Start>0</Start></ScanRange>'), 'ScanRange'],
    [doc('<JSON><Type>DOCUMENT</Type></JSON>'), 'DOCUMENT'],
    [doc('<Parquet/>'), 'Parquet'],
    [doc('<CompressionType>BZIP2</CompressionType><CSV/>'), 'BZIP2'],
  ] as const) {
    const res = await rawSelect('people.csv', xml);
    assert.equal(res.status, 501, res.body);
    assert.match(res.body, /<Code>NotImplemented<\/Code>/);
    assert.ok(res.body.includes(what), res.body);
  }
});

test('another tenant selecting from the bucket gets AccessDenied, as for GetObject; a missing key is NoSuchKey', async () => {
  await rejectsWith(
    other.send(new GetObjectCommand({ Bucket: bucket, Key: 'people.csv' })),
    'AccessDenied',
    403,
  );
  await rejectsWith(
    other.send(new SelectObjectContentCommand(csvRequest('people.csv', 'SELECT * FROM S3Object'))),
    'AccessDenied',
    403,
  );
  await rejectsWith(
    other.send(new SelectObjectContentCommand(csvRequest('nope.csv', 'SELECT * S3Object'))),
    'AccessDenied',
    403,
  );
  await rejectsWith(
    f.s3.send(new SelectObjectContentCommand(csvRequest('nope.csv', 'SELECT * FROM S3Object'))),
    'NoSuchKey',
    404,
  );
});

test('the AWS CLI (aws s3api select-object-content) writes the selected records to its outfile', async (t) => {
  const which = await run('sh', ['-c', 'command -v aws']).catch(() => undefined);
  if (!which) return t.skip('no aws CLI installed');
  const dir = tempDir('kindling-select-cli-');
  try {
    const outfile = path.join(dir, 'out.csv');
    await run(
      'aws',
      [
        's3api',
        'select-object-content',
        '--endpoint-url',
        f.t.endpoint,
        '--bucket',
        bucket,
        '--key',
        'people.csv',
        '--expression',
        "SELECT name FROM S3Object WHERE city = 'Berlin'",
        '--expression-type',
        'SQL',
        '--input-serialization',
        '{"CSV": {"FileHeaderInfo": "USE"}}',
        '--output-serialization',
        '{"CSV": {}}',
        outfile,
      ],
      {
        env: {
          ...process.env,
          AWS_ACCESS_KEY_ID: f.t.credentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: f.t.credentials.secretAccessKey,
          AWS_DEFAULT_REGION: 'us-east-1',
          AWS_CONFIG_FILE: '/dev/null',
          AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
        },
      },
    );
    assert.equal(fs.readFileSync(outfile, 'utf8'), 'Bob\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
