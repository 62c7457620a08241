// Virtual-hosted–style addressing: a request whose Host is `<bucket>.<domain>` or `<bucket>.s3.<domain>`
// (a configured base domain, `localhost` by default) names its bucket there and its key in the whole path.
import { isValidBucketName, S3Errors } from '../../events/objects/errors.js';

/** The host name without the port, lower-case (host names are case-insensitive). */
function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.lastIndexOf(':');
  // A fully qualified name may end in a dot (`bucket.localhost.`).
  return (colon < 0 ? h : h.slice(0, colon)).replace(/\.$/, '');
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * The bucket a Host header names, or undefined for path style (no Host, an IP address, a base domain
 * itself, or a host under none of them). A label that is no valid bucket name is InvalidBucketName.
 * `<b>.s3.<domain>` is tried first: a bucket whose name ends in `.s3` is reached path-style only.
 */
export function virtualHostBucket(host: string | undefined, domains: readonly string[]): string | undefined {
  if (host === undefined || domains.length === 0) return undefined;
  const name = hostName(host);
  if (name.startsWith('[') || IPV4.test(name)) return undefined;
  for (const domain of domains) {
    for (const base of [`s3.${domain}`, domain]) {
      if (!name.endsWith(`.${base}`)) continue;
      const label = name.slice(0, -(base.length + 1));
      // Function URLs (`<id>.lambda-url.<domain>`) are another surface's.
      if (label.endsWith('.lambda-url') || label === 's3') return undefined;
      // An access point alias (`...-s3alias`) stands for its bucket as it does in a path.
      if (!isValidBucketName(label) && !/^[a-z0-9-]{3,63}-s3alias$/.test(label))
        throw S3Errors.invalidBucketName(label);
      return label;
    }
  }
  return undefined;
}
