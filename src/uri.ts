// Percent-decoding that never throws: every path segment, query parameter and queue URL taken from a
// request goes through here, so a malformed escape (`%ZZ`, `%`, a cut UTF-8 sequence) is a client
// error in the surface's own words and never an internal one.
import { KindlingError } from './errors.js';

/** The decoded string, or undefined when `s` holds a malformed escape or escapes invalid UTF-8. */
export function tryDecode(s: string): string | undefined {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

/** Where a malformed escape was found: surfaces word the error after it (S3 InvalidURI, SQS InvalidAddress). */
export type EscapeSite = 'path' | 'query' | 'parameter';

/**
 * A malformed percent-escape in the request. It speaks Lambda's words (ValidationException, 400) as
 * the other edge errors do; the S3 and SQS surfaces translate it into theirs.
 */
export class MalformedEscapeError extends KindlingError {
  constructor(
    readonly site: EscapeSite,
    readonly raw: string,
  ) {
    super(
      'ValidationException',
      400,
      `The request ${site} contains a malformed percent-escape: ${clip(raw)}`,
    );
  }
}

const clip = (s: string) => (s.length > 200 ? `${s.slice(0, 200)}...` : s);

/** Decodes or throws MalformedEscapeError. */
export function decodeOrThrow(s: string, site: EscapeSite): string {
  const d = tryDecode(s);
  if (d === undefined) throw new MalformedEscapeError(site, s);
  return d;
}

/** The first `name=value` component of a query string (or form body) that does not decode, if any. */
export function malformedQueryPart(raw: string): string | undefined {
  if (!raw.includes('%')) return undefined;
  for (const part of raw.split('&')) {
    if (part.includes('%') && tryDecode(part.replace(/\+/g, ' ')) === undefined) return part;
  }
  return undefined;
}
