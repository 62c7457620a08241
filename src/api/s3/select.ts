// SelectObjectContent (S3 Select): `POST /bucket/key?select&select-type=2` with S3's XML request, answered
// in the event-stream framing (Records, Cont, Progress, Stats, End). Anything wrong before the first
// input chunk has been read (the request, the SQL, a column the header lacks, bytes that are not text)
// is S3's XML error; once the answer has started, an error event ends it. The scan itself lives in
// events/objects/select/ and knows nothing of HTTP.
import { Readable } from 'node:stream';
import { ObjectStoreError, S3Errors } from '../../events/objects/errors.js';
import type { CsvFormat } from '../../events/objects/select/csv.js';
import {
  type InputFormat,
  SelectScan,
  type SelectSpec,
  type SelectStats,
} from '../../events/objects/select/engine.js';
import { SelectErrors } from '../../events/objects/select/errors.js';
import type { OutputFormat } from '../../events/objects/select/output.js';
import { parseQuery } from '../../events/objects/select/sql.js';
import { errorMessage, eventMessage } from '../event-stream.js';
import type { ApiResponse } from '../surface.js';
import { hostId } from './errors.js';
import { MAX_XML_BODY, requestBody, type S3Request, type S3SurfaceDeps } from './request.js';
import { childOf, parseXml, type XmlNode, xmlDocument } from './xml.js';

/** A scan that finds nothing for this long sends a `Cont` event, so clients and proxies keep the connection. */
const CONT_MS = 1000;
/** With RequestProgress enabled, how often a `Progress` event reports the bytes so far. */
const PROGRESS_MS = 1000;

export async function selectObjectContent(d: S3SurfaceDeps, r: S3Request): Promise<ApiResponse> {
  const type = r.query.get('select-type');
  if (type !== '2') throw S3Errors.invalidArgument('select-type must be 2', 'select-type', type ?? '');
  const { spec, progress } = parseSelectRequest(
    (await requestBody(r).readAll(MAX_XML_BODY)).toString('utf8'),
  );
  // The caller the surface authorised (the owner, or another account an ACL or policy lets read it).
  const obj = await d.store.openObject(r.actor, r.bucket, r.key);
  const src = obj.read();
  const scan = new SelectScan(spec);
  const it = scan.run(src);
  const release = () => {
    src.destroy();
    obj.close();
  };
  let first: IteratorResult<Buffer | null>;
  try {
    // The first input chunk decides between an XML error and a stream: header bindings, encoding.
    first = await it.next();
  } catch (e) {
    release();
    throw e;
  }
  return {
    status: 200,
    headers: { 'x-amz-request-id': r.requestId, 'x-amz-id-2': hostId(r.requestId) },
    body: Readable.from(frames(first, it, scan.stats, progress, release), { objectMode: false }),
  };
}

/** The scan's output as event-stream messages (exported with its clock for the keep-alive's test). */
export async function* frames(
  first: IteratorResult<Buffer | null>,
  it: AsyncGenerator<Buffer | null>,
  stats: SelectStats,
  progress: boolean,
  release: () => void,
  clock: () => number = Date.now,
): AsyncGenerator<Buffer> {
  let lastSent = clock();
  let lastProgress = lastSent;
  try {
    for (let step = first; !step.done; step = await it.next()) {
      const now = clock();
      if (step.value) {
        yield eventMessage('Records', 'application/octet-stream', step.value);
        lastSent = now;
      } else if (now - lastSent >= CONT_MS) {
        yield eventMessage('Cont', undefined);
        lastSent = now;
      }
      if (progress && now - lastProgress >= PROGRESS_MS) {
        yield statsMessage('Progress', stats);
        lastProgress = now;
      }
    }
    if (progress) yield statsMessage('Progress', stats);
    yield statsMessage('Stats', stats);
    yield eventMessage('End', undefined);
  } catch (e) {
    const err = e instanceof ObjectStoreError ? e : S3Errors.internal();
    yield errorMessage(err.code, err.message);
  } finally {
    await it.return(undefined).catch(() => {});
    release();
  }
}

function statsMessage(kind: 'Progress' | 'Stats', s: SelectStats): Buffer {
  const body = { BytesScanned: s.scanned, BytesProcessed: s.processed, BytesReturned: s.returned };
  return eventMessage(kind, 'text/xml', Buffer.from(xmlDocument(kind, body, false)));
}

// ---- the request document ----

const malformed = (why: string): ObjectStoreError => {
  const e = S3Errors.malformedXml();
  return new ObjectStoreError(e.code, `${e.message}: ${why}`);
};

/** Refuses any element not in `allowed` by name (never accepted and dropped), and repeated ones. */
function only(n: XmlNode, allowed: readonly string[]): void {
  const seen = new Set<string>();
  for (const c of n.children) {
    if (!allowed.includes(c.name)) throw malformed(`unknown element <${c.name}> in <${n.name}>`);
    if (seen.has(c.name)) throw malformed(`<${c.name}> appears more than once in <${n.name}>`);
    seen.add(c.name);
  }
}

function leaf(n: XmlNode, name: string): string | undefined {
  const c = childOf(n, name);
  if (!c) return undefined;
  if (c.children.length > 0) throw malformed(`<${name}> holds elements`);
  return c.text;
}

/** A delimiter or quote character: S3 takes one character (two for a record delimiter such as CRLF). */
function char(
  n: XmlNode,
  name: string,
  fallback: string,
  opts: { max?: number; ascii?: boolean; empty?: boolean } = {},
): string {
  const v = leaf(n, name) ?? fallback;
  const chars = [...v];
  if (
    (v === '' && !opts.empty) ||
    chars.length > (opts.max ?? 1) ||
    (opts.ascii && [...v].some((ch) => ch.charCodeAt(0) > 0x7f))
  )
    throw SelectErrors.invalidParameter(name, v);
  return v;
}

function enumOf<T extends string>(
  n: XmlNode,
  name: string,
  values: readonly T[],
  fallback: T,
  err: () => Error,
): T {
  const v = (leaf(n, name) ?? fallback).trim().toUpperCase();
  if (!values.includes(v as T)) throw err();
  return v as T;
}

function one(n: XmlNode, what: string): XmlNode {
  const formats = n.children.filter((c) => c.name === 'CSV' || c.name === 'JSON' || c.name === 'Parquet');
  if (formats.length === 0) throw SelectErrors.missingParameter(`${what} (CSV or JSON)`);
  if (formats.length > 1)
    throw new ObjectStoreError('ObjectSerializationConflict', `${what} names more than one format.`);
  return formats[0]!;
}

export function parseSelectRequest(body: string): { spec: SelectSpec; progress: boolean } {
  const doc = parseXml(body);
  if (doc.name !== 'SelectObjectContentRequest') throw malformed(`the root element is <${doc.name}>`);
  only(doc, [
    'Expression',
    'ExpressionType',
    'RequestProgress',
    'InputSerialization',
    'OutputSerialization',
    'ScanRange',
  ]);
  const expression = leaf(doc, 'Expression');
  if (expression === undefined || expression.trim() === '') throw SelectErrors.missingParameter('Expression');
  const expressionType = leaf(doc, 'ExpressionType');
  if (expressionType === undefined) throw SelectErrors.missingParameter('ExpressionType');
  if (expressionType.trim() !== 'SQL') throw SelectErrors.invalidExpressionType();
  if (childOf(doc, 'ScanRange')) throw S3Errors.notImplemented('ScanRange');
  let progress = false;
  const rp = childOf(doc, 'RequestProgress');
  if (rp) {
    only(rp, ['Enabled']);
    const v = (leaf(rp, 'Enabled') ?? 'false').trim();
    if (v !== 'true' && v !== 'false') throw SelectErrors.invalidParameter('RequestProgress.Enabled', v);
    progress = v === 'true';
  }
  const inNode = childOf(doc, 'InputSerialization');
  if (!inNode) throw SelectErrors.missingParameter('InputSerialization');
  const outNode = childOf(doc, 'OutputSerialization');
  if (!outNode) throw SelectErrors.missingParameter('OutputSerialization');
  only(inNode, ['CompressionType', 'CSV', 'JSON', 'Parquet']);
  only(outNode, ['CSV', 'JSON']);
  const compression = (leaf(inNode, 'CompressionType') ?? 'NONE').trim().toUpperCase();
  if (compression === 'BZIP2') throw S3Errors.notImplemented('CompressionType BZIP2');
  if (compression !== 'NONE' && compression !== 'GZIP') throw SelectErrors.invalidCompression();
  const input = inputFormat(one(inNode, 'InputSerialization'));
  const output = outputFormat(one(outNode, 'OutputSerialization'));
  // The SQL last: a request that is wrong in several ways names its shape first, as S3 does.
  const query = parseQuery(expression);
  return { spec: { query, input, output, gzip: compression === 'GZIP' }, progress };
}

function inputFormat(n: XmlNode): InputFormat {
  if (n.name === 'Parquet') throw S3Errors.notImplemented('InputSerialization Parquet');
  if (n.name === 'JSON') {
    only(n, ['Type']);
    const type = (leaf(n, 'Type') ?? 'DOCUMENT').trim().toUpperCase();
    if (type === 'DOCUMENT') throw S3Errors.notImplemented('JSON Type DOCUMENT (only LINES)');
    if (type !== 'LINES') throw SelectErrors.invalidParameter('JSON Type', type);
    return { format: 'JSON' };
  }
  only(n, [
    'FileHeaderInfo',
    'Comments',
    'QuoteEscapeCharacter',
    'RecordDelimiter',
    'FieldDelimiter',
    'QuoteCharacter',
    'AllowQuotedRecordDelimiter',
  ]);
  const header = enumOf(
    n,
    'FileHeaderInfo',
    ['USE', 'IGNORE', 'NONE'] as const,
    'NONE',
    SelectErrors.invalidFileHeaderInfo,
  );
  const byte = (s: string) => (s === '' ? -1 : s.charCodeAt(0));
  const quote = char(n, 'QuoteCharacter', '"', { ascii: true, empty: true });
  const escapeChar = char(n, 'QuoteEscapeCharacter', quote || '"', { ascii: true, empty: true });
  const aqrd = (leaf(n, 'AllowQuotedRecordDelimiter') ?? 'false').trim();
  if (aqrd !== 'true' && aqrd !== 'false')
    throw SelectErrors.invalidParameter('AllowQuotedRecordDelimiter', aqrd);
  const csv: CsvFormat = {
    fieldDelimiter: Buffer.from(char(n, 'FieldDelimiter', ',', { max: 2 })),
    recordDelimiter: Buffer.from(char(n, 'RecordDelimiter', '\n', { max: 2 })),
    quote: byte(quote),
    escape: byte(escapeChar),
    comment: byte(char(n, 'Comments', '#', { ascii: true, empty: true })),
    allowQuotedRecordDelimiter: aqrd === 'true',
  };
  if (csv.fieldDelimiter.equals(csv.recordDelimiter))
    throw SelectErrors.invalidParameter('FieldDelimiter', csv.fieldDelimiter.toString());
  return { format: 'CSV', csv, header };
}

function outputFormat(n: XmlNode): OutputFormat {
  if (n.name === 'JSON') {
    only(n, ['RecordDelimiter']);
    return { format: 'JSON', recordDelimiter: char(n, 'RecordDelimiter', '\n', { max: 2 }) };
  }
  only(n, ['QuoteFields', 'QuoteEscapeCharacter', 'RecordDelimiter', 'FieldDelimiter', 'QuoteCharacter']);
  const quote = char(n, 'QuoteCharacter', '"', { empty: true });
  return {
    format: 'CSV',
    quoteFields: enumOf(
      n,
      'QuoteFields',
      ['ALWAYS', 'ASNEEDED'] as const,
      'ASNEEDED',
      SelectErrors.invalidQuoteFields,
    ),
    quote,
    escape: char(n, 'QuoteEscapeCharacter', quote || '"', { empty: true }),
    fieldDelimiter: char(n, 'FieldDelimiter', ',', { max: 2 }),
    recordDelimiter: char(n, 'RecordDelimiter', '\n', { max: 2 }),
  };
}
