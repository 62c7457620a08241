// S3's preconditions on an object that exists: If-Match / If-None-Match / If-(Un)Modified-Since on GET
// and HEAD, and their x-amz-copy-source-if-* twins on the source of CopyObject and UploadPartCopy, with
// S3's precedence between an ETag condition and a date condition given together.
import { S3Errors } from '../../events/objects/errors.js';
import type { ObjectInfo } from '../../events/objects/store.js';
import type { ApiResponse, RequestHead } from '../surface.js';

type Headers = RequestHead['headers'];

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
/** IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT` and RFC 850 `Sunday, 06-Nov-94 08:49:37 GMT`. */
const RFC_DATE =
  /^[A-Za-z]{3,9}, (\d{1,2})[ -]([A-Za-z]{3})[ -](\d{2}|\d{4}) (\d\d):(\d\d):(\d\d) (?:GMT|UTC)$/;
/** asctime `Sun Nov  6 08:49:37 1994`. */
const ASCTIME = /^[A-Za-z]{3} ([A-Za-z]{3}) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d) (\d{4})$/;
/** ISO 8601 in UTC, as some SDKs send timestamps: `1994-11-06T08:49:37Z` (fraction allowed). */
const ISO = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.\d+)?Z$/;

function utc(y: number, mon: number, d: number, h: number, mi: number, s: number): number | undefined {
  if (mon < 0 || mon > 11 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return undefined;
  const t = Date.UTC(y, mon, d, h, mi, s);
  return new Date(t).getUTCDate() === d ? t : undefined;
}

/**
 * An HTTP date (the three forms RFC 9110 names) or an ISO 8601 UTC time, in epoch milliseconds;
 * undefined for anything else: S3 ignores a date condition it cannot parse, so the caller skips it.
 */
export function parseHttpDate(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const v = raw.trim();
  let m = RFC_DATE.exec(v);
  if (m) {
    const year = m[3]!.length === 2 ? 1900 + Number(m[3]) + (Number(m[3]) < 70 ? 100 : 0) : Number(m[3]);
    return utc(
      year,
      MONTHS.indexOf(m[2]!.toLowerCase()),
      Number(m[1]),
      Number(m[4]),
      Number(m[5]),
      Number(m[6]),
    );
  }
  m = ASCTIME.exec(v);
  if (m)
    return utc(
      Number(m[6]),
      MONTHS.indexOf(m[1]!.toLowerCase()),
      Number(m[2]),
      Number(m[3]),
      Number(m[4]),
      Number(m[5]),
    );
  m = ISO.exec(v);
  if (m) return utc(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  return undefined;
}

const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v.join(',') : v);

/** Whether an If-Match / If-None-Match list names the object: `*`, or its ETag quoted or not. */
export function etagMatches(list: string, etag: string): boolean {
  return list.split(',').some((t) => {
    const s = t.trim();
    return s === '*' || s === etag || s === `"${etag}"`;
  });
}

/** What the four conditions say about one object; a date that does not parse is no condition. */
interface Verdict {
  /** If-Match failed, or (without If-Match) If-Unmodified-Since failed: 412. */
  failed?: 'If-Match' | 'If-Unmodified-Since';
  /** If-None-Match matched, or (without If-None-Match) If-Modified-Since failed: 304 on GET, 412 on a copy. */
  notModified?: 'If-None-Match' | 'If-Modified-Since';
}

function judge(info: ObjectInfo, h: Headers, prefix: string): Verdict {
  // HTTP dates have whole seconds; Last-Modified is answered rounded down.
  const modified = Math.floor(info.lastModified.getTime() / 1000) * 1000;
  const ifMatch = one(h[`${prefix}if-match`]);
  const ifNone = one(h[`${prefix}if-none-match`]);
  const unmodifiedSince = parseHttpDate(one(h[`${prefix}if-unmodified-since`]));
  const modifiedSince = parseHttpDate(one(h[`${prefix}if-modified-since`]));
  const v: Verdict = {};
  // S3's precedence: a matching ETag wins over a failed If-Unmodified-Since, and If-None-Match (when
  // given) decides alone over If-Modified-Since.
  if (ifMatch !== undefined) {
    if (!etagMatches(ifMatch, info.etag)) v.failed = 'If-Match';
  } else if (unmodifiedSince !== undefined && modified > unmodifiedSince) v.failed = 'If-Unmodified-Since';
  if (ifNone !== undefined) {
    if (etagMatches(ifNone, info.etag)) v.notModified = 'If-None-Match';
  } else if (modifiedSince !== undefined && modified <= modifiedSince) v.notModified = 'If-Modified-Since';
  return v;
}

/** GET and HEAD: 412 PreconditionFailed thrown, a 304 answer returned, or undefined to go on. */
export function readConditions(info: ObjectInfo, h: Headers): ApiResponse | undefined {
  const v = judge(info, h, '');
  if (v.failed) throw S3Errors.preconditionFailed(v.failed);
  if (v.notModified)
    return {
      status: 304,
      headers: { etag: `"${info.etag}"`, 'last-modified': info.lastModified.toUTCString() },
    };
  return undefined;
}

/** CopyObject and UploadPartCopy: any failed x-amz-copy-source-if-* condition is 412 PreconditionFailed. */
export function copySourceConditions(info: ObjectInfo, h: Headers): void {
  const v = judge(info, h, 'x-amz-copy-source-');
  const failed = v.failed ?? v.notModified;
  if (failed) throw S3Errors.preconditionFailed(`x-amz-copy-source-${failed}`);
}
