// `encoding-type=url` and `max-keys` of S3's listings (ListObjects v1/v2, ListMultipartUploads, ListObjectVersions): which
// encoding was asked for, and the encoder S3 applies to the key-like elements it names per listing.
import { S3Errors } from '../../events/objects/errors.js';

/** Encodes a key-like value, or passes it through when the listing was not asked to encode. */
export type ListingEncoder = <T extends string | undefined>(s: T) => T;

export interface ListingEncoding {
  /** 'url' to echo as `<EncodingType>`, undefined when not asked for. */
  encodingType: 'url' | undefined;
  enc: ListingEncoder;
}

/**
 * Percent-encodes everything but RFC 3986's unreserved characters and `/` (UTF-8 bytes, upper-case hex):
 * a space is `%20`, `+` is `%2B`, control characters (legal in keys, not in XML 1.0) become escapes.
 */
export function urlEncodeKey(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9\-_.~/]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The listing's `encoding-type`: absent or `url`; anything else is S3's InvalidArgument. */
export function listingEncoding(query: URLSearchParams): ListingEncoding {
  const raw = query.get('encoding-type');
  if (raw === null) return { encodingType: undefined, enc: (s) => s };
  if (raw !== 'url')
    throw S3Errors.invalidArgument('Invalid Encoding Method specified in Request', 'encoding-type', raw);
  return {
    encodingType: 'url',
    enc: ((s: string | undefined) => (s === undefined ? s : urlEncodeKey(s))) as ListingEncoder,
  };
}

/** A listing's `max-keys`: 1000 when absent; not a non-negative integer is S3's InvalidArgument. */
export function listingMaxKeys(query: URLSearchParams): number {
  const raw = query.get('max-keys');
  const maxKeys = raw === null ? 1000 : Number(raw);
  if (!Number.isInteger(maxKeys) || maxKeys < 0)
    throw S3Errors.invalidArgument(
      'Provided max-keys not an integer or within integer range',
      'max-keys',
      raw ?? '',
    );
  return maxKeys;
}
