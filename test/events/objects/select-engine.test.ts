// The S3 Select engine on its own (no server): the SQL subset, the CSV and JSON-lines readers across
// chunk boundaries, S3 Select's errors, and bounded memory on a stream far larger than what it may hold.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { ObjectStoreError } from '../../../src/events/objects/errors.js';
import { MAX_RECORD_BYTES } from '../../../src/events/objects/select/csv.js';
import { type InputFormat, SelectScan } from '../../../src/events/objects/select/engine.js';
import type { OutputFormat } from '../../../src/events/objects/select/output.js';
import { parseQuery } from '../../../src/events/objects/select/sql.js';

const CSV_IN = (
  header: 'USE' | 'IGNORE' | 'NONE' = 'USE',
  extra: Partial<Extract<InputFormat, { format: 'CSV' }>['csv']> = {},
): InputFormat => ({
  format: 'CSV',
  header,
  csv: {
    fieldDelimiter: Buffer.from(','),
    recordDelimiter: Buffer.from('\n'),
    quote: 0x22,
    escape: 0x22,
    comment: 0x23,
    allowQuotedRecordDelimiter: false,
    ...extra,
  },
});
const CSV_OUT: OutputFormat = {
  format: 'CSV',
  fieldDelimiter: ',',
  recordDelimiter: '\n',
  quote: '"',
  escape: '"',
  quoteFields: 'ASNEEDED',
};
const JSON_OUT: OutputFormat = { format: 'JSON', recordDelimiter: '\n' };

/** Splits the input into chunks of `size` bytes, so records straddle chunk boundaries. */
async function* chunks(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

async function run(
  sql: string,
  data: string | Buffer,
  opts: { input?: InputFormat; output?: OutputFormat; chunk?: number; gzip?: boolean } = {},
): Promise<string> {
  const scan = new SelectScan({
    query: parseQuery(sql),
    input: opts.input ?? CSV_IN(),
    output: opts.output ?? CSV_OUT,
    gzip: opts.gzip ?? false,
  });
  const out: Buffer[] = [];
  for await (const b of scan.run(chunks(Buffer.from(data), opts.chunk ?? 7))) if (b) out.push(b);
  return Buffer.concat(out).toString();
}

function code(c: string) {
  return (e: unknown) => {
    assert.ok(e instanceof ObjectStoreError, String(e));
    assert.equal(e.code, c, e.message);
    return true;
  };
}

const PEOPLE =
  'name,age,city\nAda,36,London\n"Lovelace, Jr",7,"Paris"\nBob,41,Berlin\n# a comment\nCy,,Oslo\n';

test('SELECT * with a header keeps the records, skips the header and comment lines', async () => {
  assert.equal(
    await run('SELECT * FROM S3Object', PEOPLE),
    'Ada,36,London\n"Lovelace, Jr",7,Paris\nBob,41,Berlin\nCy,,Oslo\n',
  );
});

test('columns by header name (any case), by position and through the alias; WHERE with a number compares numerically', async () => {
  assert.equal(
    await run("SELECT s.name, _3, AGE FROM S3Object s WHERE s.age > 9 AND city <> 'Oslo'", PEOPLE),
    'Ada,London,36\nBob,Berlin,41\n',
  );
});

test('CAST, arithmetic, LIKE, IN, BETWEEN, IS NULL, OR and NOT with parentheses', async () => {
  const sql =
    "SELECT name, CAST(age AS INT) * 2 AS twice FROM S3Object WHERE age <> '' AND (name LIKE 'A%' OR city IN ('Berlin', 'Oslo')) AND NOT CAST(age AS INT) BETWEEN 40 AND 50";
  assert.equal(await run(sql, PEOPLE), 'Ada,72\n');
  assert.equal(
    await run("SELECT name FROM S3Object WHERE _4 IS NULL AND name LIKE '%v%J_'", PEOPLE),
    '"Lovelace, Jr"\n',
  );
});

test('an empty CSV field CAST to INT fails with CastFailed', async () => {
  await assert.rejects(
    run("SELECT CAST(age AS INT) FROM S3Object WHERE city = 'Oslo'", PEOPLE),
    code('CastFailed'),
  );
});

test('LIMIT stops after that many records', async () => {
  assert.equal(await run('SELECT name FROM S3Object LIMIT 2', PEOPLE), 'Ada\n"Lovelace, Jr"\n');
});

test('aggregates: COUNT(*), SUM, AVG, MIN, MAX over the selected records', async () => {
  const csv = 'n,v\na,1\nb,2\nc,3\nd,10\n';
  assert.equal(
    await run(
      'SELECT COUNT(*), SUM(CAST(v AS INT)), AVG(CAST(v AS FLOAT)), MIN(n), MAX(CAST(v AS INT)) FROM S3Object WHERE v <> 2',
      csv,
    ),
    '3,14,4.666666666666667,a,10\n',
  );
  assert.equal(await run('SELECT COUNT(*) FROM S3Object', 'n,v\n'), '0\n');
});

test('JSON output names fields by header, alias or position', async () => {
  assert.equal(
    await run("SELECT name, CAST(age AS INT) AS years, _3 FROM S3Object WHERE name = 'Bob'", PEOPLE, {
      output: JSON_OUT,
    }),
    '{"name":"Bob","years":41,"_3":"Berlin"}\n',
  );
  assert.equal(
    await run("SELECT * FROM S3Object WHERE name = 'Ada'", PEOPLE, { output: JSON_OUT }),
    '{"name":"Ada","age":"36","city":"London"}\n',
  );
});

test('quoted fields with escaped quotes and quoted record delimiters, one byte per chunk', async () => {
  const csv = 'a,b\n"say ""hi""","x\ny"\nplain,"z"\n';
  const input = CSV_IN('USE', { allowQuotedRecordDelimiter: true });
  assert.equal(
    await run('SELECT b, a FROM S3Object', csv, { input, chunk: 1, output: JSON_OUT }),
    '{"b":"x\\ny","a":"say \\"hi\\""}\n{"b":"z","a":"plain"}\n',
  );
});

test('other delimiters, a quote escape character and no comments; the last record needs no delimiter', async () => {
  const input = CSV_IN('NONE', {
    fieldDelimiter: Buffer.from('\t'),
    recordDelimiter: Buffer.from('\r\n'),
    escape: 0x5c,
    comment: -1,
  });
  const out: OutputFormat = { ...CSV_OUT, fieldDelimiter: '|', quoteFields: 'ALWAYS' };
  assert.equal(
    await run('SELECT _2, _1 FROM S3Object', '#1\t"a\\"b"\r\n2\tc', { input, output: out, chunk: 3 }),
    '"a""b"|"#1"\n"c"|"2"\n',
  );
});

test('JSON lines: typed values, nested paths, S3Object[*], missing attributes left out', async () => {
  const lines =
    '{"id":1,"user":{"name":"ann","tags":["x","y"]},"ok":true}\n\n{"id":2,"user":{"name":"ben"},"ok":false}\n{"id":3.5}';
  const input: InputFormat = { format: 'JSON' };
  assert.equal(
    await run('SELECT s.id, s.user.name, s.user.tags[1] AS t FROM S3Object[*] s WHERE s.id >= 1', lines, {
      input,
      output: JSON_OUT,
    }),
    '{"id":1,"name":"ann","t":"y"}\n{"id":2,"name":"ben"}\n{"id":3.5}\n',
  );
  assert.equal(
    await run('SELECT * FROM S3Object s WHERE s.ok = true', lines, { input, output: JSON_OUT }),
    '{"id":1,"user":{"name":"ann","tags":["x","y"]},"ok":true}\n',
  );
  assert.equal(await run('SELECT s.id FROM S3Object s WHERE s.ok IS MISSING', lines, { input }), '3.5\n');
});

test('a line that is not JSON fails with JSONParsingError naming the record', async () => {
  await assert.rejects(
    run('SELECT * FROM S3Object', '{"a":1}\n{"a":\n', { input: { format: 'JSON' } }),
    (e) => {
      code('JSONParsingError')(e);
      assert.match((e as Error).message, /record 2/);
      return true;
    },
  );
});

test('GZIP input is read through gunzip; bytes that are not GZIP fail with its error', async () => {
  const gz = gzipSync(Buffer.from(PEOPLE));
  assert.equal(await run("SELECT name FROM S3Object WHERE city = 'Berlin'", gz, { gzip: true }), 'Bob\n');
  await assert.rejects(
    run('SELECT * FROM S3Object', PEOPLE, { gzip: true }),
    code('InvalidCompressionFormat'),
  );
});

test('malformed SQL is refused with S3 Select parse errors', async () => {
  const cases: Array<[string, string]> = [
    ['SELECT * S3Object', 'ParseUnexpectedToken'],
    ['SELECT *', 'ParseSelectMissingFrom'],
    ['SELECT * FROM S3Object WHERE', 'ParseExpectedExpression'],
    ["SELECT * FROM S3Object WHERE name = 'open", 'LexerInvalidLiteral'],
    ['SELECT * FROM S3Object WHERE a ~ b', 'LexerInvalidChar'],
    ['SELECT * FROM S3Object ORDER BY a', 'ParseUnsupportedSyntax'],
    ['SELECT * FROM other', 'InvalidDataSource'],
    ['SELECT CAST(a AS BLOB) FROM S3Object', 'ParseInvalidTypeParam'],
    ['SELECT CAST(a) FROM S3Object', 'ParseCastArity'],
    ['SELECT FOO(a) FROM S3Object', 'UnsupportedSqlOperation'],
    ['SELECT _1, COUNT(*) FROM S3Object', 'UnsupportedSqlStructure'],
    [`SELECT * FROM S3Object WHERE ${'('.repeat(500)}1${')'.repeat(500)} = 1`, 'ParseUnsupportedSyntax'],
  ];
  for (const [sql, c] of cases)
    await assert.rejects(run(sql, 'a\n', { input: CSV_IN('NONE') }), code(c), sql);
});

test('an expression over 256 KB is refused with ExpressionTooLong', () => {
  assert.throws(
    () => parseQuery(`SELECT * FROM S3Object WHERE a = '${'x'.repeat(256 * 1024)}'`),
    code('ExpressionTooLong'),
  );
});

test('a column the header lacks is EvaluatorBindingDoesNotExist; _0 is InvalidColumnIndex; names without a header do not bind', async () => {
  await assert.rejects(run('SELECT nope FROM S3Object', PEOPLE), code('EvaluatorBindingDoesNotExist'));
  await assert.rejects(run('SELECT _0 FROM S3Object', PEOPLE), code('InvalidColumnIndex'));
  await assert.rejects(
    run('SELECT name FROM S3Object', PEOPLE, { input: CSV_IN('IGNORE') }),
    code('EvaluatorBindingDoesNotExist'),
  );
  assert.equal(await run('SELECT _1 FROM S3Object LIMIT 1', PEOPLE, { input: CSV_IN('IGNORE') }), 'Ada\n');
});

test('binary bytes read as CSV fail with InvalidTextEncoding', async () => {
  const png = Buffer.from([
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0xff, 0xfe, 0x0a, 0x00, 0xc3, 0x0a,
  ]);
  await assert.rejects(
    run('SELECT * FROM S3Object', png, { input: CSV_IN('NONE') }),
    code('InvalidTextEncoding'),
  );
});

/** `total` bytes of CSV made on the fly from one reused buffer: nothing of it is kept by the generator. */
async function* synthetic(total: number, withDelimiters = true): AsyncGenerator<Buffer> {
  const line = Buffer.from('12345,some text here,more text,0.5\n');
  const chunk = Buffer.alloc(256 * 1024);
  if (withDelimiters) for (let i = 0; i < chunk.length; i++) chunk[i] = line[i % line.length]!;
  else chunk.fill(0x61);
  for (let sent = 0; sent < total; sent += chunk.length) yield chunk;
}

test('a 256 MB CSV stream is scanned with bounded memory (RSS grows by under 64 MB)', async () => {
  const TOTAL = 256 * 1024 * 1024;
  const scan = new SelectScan({
    query: parseQuery("SELECT _2 FROM S3Object WHERE _1 = 'never'"),
    input: CSV_IN('NONE'),
    output: CSV_OUT,
    gzip: false,
  });
  global.gc?.();
  const base = process.memoryUsage();
  let peak = 0;
  let n = 0;
  for await (const b of scan.run(synthetic(TOTAL))) {
    assert.equal(b, null);
    if (++n % 64 === 0) peak = Math.max(peak, process.memoryUsage().rss - base.rss);
  }
  assert.equal(scan.stats.processed, TOTAL);
  // The object is 256 MB; the scan may hold a chunk, a carried record and short-lived strings.
  assert.ok(peak < 64 * 1024 * 1024, `rss grew by ${(peak / 1048576).toFixed(1)} MB`);
});

test('an object with no record delimiter fails with OverMaxRecordSize after 1 MB, not at its end', async () => {
  const scan = new SelectScan({
    query: parseQuery('SELECT * FROM S3Object'),
    input: CSV_IN('NONE'),
    output: CSV_OUT,
    gzip: false,
  });
  await assert.rejects(async () => {
    for await (const _ of scan.run(synthetic(5 * 1024 * 1024 * 1024, false)));
  }, code('OverMaxRecordSize'));
  assert.ok(scan.stats.scanned <= MAX_RECORD_BYTES + 256 * 1024, String(scan.stats.scanned));
});

test('a LIKE pattern built to backtrack (%a%a...%b) against a 100 KB field answers at once, and LIKE still matches', async () => {
  const field = 'a'.repeat(100_000);
  const hostile = `${'%a'.repeat(12)}%b`;
  assert.equal(
    await run(`SELECT COUNT(*) FROM S3Object WHERE _1 LIKE '${hostile}'`, `${field}\n`, {
      input: CSV_IN('NONE'),
      chunk: 65536,
    }),
    '0\n',
  );
  assert.equal(
    await run(`SELECT COUNT(*) FROM S3Object WHERE _1 LIKE '${'%a'.repeat(12)}%'`, `${field}\n`, {
      input: CSV_IN('NONE'),
      chunk: 65536,
    }),
    '1\n',
  );
  assert.equal(
    await run("SELECT _1 FROM S3Object WHERE _1 LIKE 'x!%_' ESCAPE '!'", 'x%y\nx%\nxy1\n', {
      input: CSV_IN('NONE'),
    }),
    'x%y\n',
  );
  assert.equal(
    await run("SELECT _1 FROM S3Object WHERE _1 LIKE '_🙂%'", 'a🙂b\n🙂🙂\nab\n', { input: CSV_IN('NONE') }),
    'a🙂b\n🙂🙂\n',
  );
});

test('expressions too deep to evaluate safely are refused with ParseUnsupportedSyntax, not a crash', async () => {
  const chain = `SELECT * FROM S3Object WHERE ${Array.from({ length: 20_000 }, () => "_1 = 'x'").join(' OR ')}`;
  await assert.rejects(run(chain, 'a\n', { input: CSV_IN('NONE') }), code('ParseUnsupportedSyntax'));
  await assert.rejects(
    run(`SELECT ${'-'.repeat(5000)}1 FROM S3Object`, 'a\n', { input: CSV_IN('NONE') }),
    code('ParseUnsupportedSyntax'),
  );
  const ors = Array.from({ length: 500 }, (_, i) => `_1 = '${i}'`).join(' OR ');
  assert.equal(
    await run(`SELECT _1 FROM S3Object WHERE ${ors}`, '7\nx\n499\n', { input: CSV_IN('NONE') }),
    '7\n499\n',
  );
});

test('SELECT * copies a record raw only when that gives the same bytes as re-serialising it', async () => {
  const csv = '\uFEFFid,note\n1,plain\n2,say "hi"\n3,"a,b"\n';
  assert.equal(
    await run('SELECT * FROM S3Object s WHERE s.id <> 0', csv),
    '1,plain\n2,"say ""hi"""\n3,"a,b"\n',
  );
  const pipes: OutputFormat = { ...CSV_OUT, fieldDelimiter: '|' };
  assert.equal(
    await run('SELECT * FROM S3Object', csv, { output: pipes }),
    '1|plain\n2|"say ""hi"""\n3|a,b\n',
  );
});
