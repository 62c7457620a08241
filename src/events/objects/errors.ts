// The object store's error catalogue, in S3's vocabulary: each code is what an S3 client switches on.
// The S3 surface (api/s3/errors.ts) adds S3's HTTP status and renders S3's XML error body; the
// `details` become extra elements of that body (<Key>, <BucketName>, ...).
import { DomainError } from '../../errors.js';

export class ObjectStoreError extends DomainError {}

const e = (code: string, message: string, details: Record<string, unknown> = {}) =>
  new ObjectStoreError(code, message, details);

export const S3Errors = {
  noSuchBucket: (bucket: string) =>
    e('NoSuchBucket', 'The specified bucket does not exist', { BucketName: bucket }),
  noSuchKey: (key: string, responseHeaders?: Record<string, string>) =>
    e('NoSuchKey', 'The specified key does not exist.', {
      Key: key,
      ...(responseHeaders && { ResponseHeaders: responseHeaders }),
    }),
  noSuchVersion: (key: string, versionId: string) =>
    e('NoSuchVersion', 'The specified version does not exist.', { Key: key, VersionId: versionId }),
  /** GET or HEAD of a delete marker by its version id. */
  deleteMarkerVersion: (responseHeaders: Record<string, string>) =>
    e('MethodNotAllowed', 'The specified method is not allowed against this resource.', {
      ResponseHeaders: responseHeaders,
    }),
  noSuchUpload: (uploadId: string) =>
    e(
      'NoSuchUpload',
      'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
      {
        UploadId: uploadId,
      },
    ),
  bucketAlreadyExists: (bucket: string) =>
    e(
      'BucketAlreadyExists',
      'The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.',
      {
        BucketName: bucket,
      },
    ),
  bucketAlreadyOwnedByYou: (bucket: string) =>
    e(
      'BucketAlreadyOwnedByYou',
      'Your previous request to create the named bucket succeeded and you already own it.',
      {
        BucketName: bucket,
      },
    ),
  bucketNotEmpty: (bucket: string) =>
    e('BucketNotEmpty', 'The bucket you tried to delete is not empty', { BucketName: bucket }),
  invalidBucketName: (bucket: string) =>
    e('InvalidBucketName', 'The specified bucket is not valid.', { BucketName: bucket }),
  keyTooLong: () => e('KeyTooLongError', 'Your key is too long'),
  accessDenied: (message = 'Access Denied') => e('AccessDenied', message),
  invalidRange: (size: number, requested?: string) =>
    e('InvalidRange', 'The requested range is not satisfiable', {
      ...(requested !== undefined && { RangeRequested: requested }),
      ActualObjectSize: size,
    }),
  preconditionFailed: (condition: string) =>
    e('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', {
      Condition: condition,
    }),
  badDigest: () => e('BadDigest', 'The Content-MD5 you specified did not match what we received.'),
  invalidDigest: () => e('InvalidDigest', 'The Content-MD5 you specified is not valid.'),
  contentSha256Mismatch: () =>
    e(
      'XAmzContentSHA256Mismatch',
      "The provided 'x-amz-content-sha256' header does not match what was computed.",
    ),
  checksumMismatch: (algorithm: string) =>
    e('BadDigest', `The ${algorithm} you specified did not match the calculated checksum.`),
  invalidChecksum: (header: string) => e('InvalidRequest', `Value for ${header} header is invalid.`),
  incompleteBody: () =>
    e(
      'IncompleteBody',
      'You did not provide the number of bytes specified by the Content-Length HTTP header',
    ),
  invalidChunk: (message: string) => e('InvalidRequest', message),
  chunkSignatureMismatch: () =>
    e(
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
    ),
  invalidPart: (
    message = "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
  ) => e('InvalidPart', message),
  invalidPartOrder: () =>
    e(
      'InvalidPartOrder',
      'The list of parts was not in ascending order. Parts must be ordered by part number.',
    ),
  entityTooSmall: () =>
    e('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size.'),
  entityTooLarge: (message = 'Your proposed upload exceeds the maximum allowed object size.') =>
    e('EntityTooLarge', message),
  invalidArgument: (message: string, name?: string, value?: string) =>
    e(
      'InvalidArgument',
      message,
      name === undefined ? {} : { ArgumentName: name, ArgumentValue: value ?? '' },
    ),
  invalidRequest: (message: string) => e('InvalidRequest', message),
  unresolvableEmail: (email: string) =>
    e(
      'UnresolvableGrantByEmailAddress',
      'The e-mail address you provided does not match any account on record.',
      {
        EmailAddress: email,
      },
    ),
  malformedXml: () =>
    e(
      'MalformedXML',
      'The XML you provided was not well-formed or did not validate against our published schema',
    ),
  notImplemented: (what: string) =>
    e(
      'NotImplemented',
      `A header or query you provided implies functionality that is not implemented: ${what}`,
    ),
  methodNotAllowed: () => e('MethodNotAllowed', 'The specified method is not allowed against this resource.'),
  missingContentLength: () => e('MissingContentLength', 'You must provide the Content-Length HTTP header.'),
  internal: () => e('InternalError', 'We encountered an internal error. Please try again.'),
} as const;

/** S3's bucket naming rules (general purpose buckets). */
export function isValidBucketName(name: string): boolean {
  if (name.length < 3 || name.length > 63) return false;
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(name)) return false;
  if (name.includes('..') || name.includes('.-') || name.includes('-.')) return false;
  if (/^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name)) return false;
  if (name.startsWith('xn--') || name.startsWith('sthree-') || name.startsWith('amzn-s3-demo-')) return false;
  if (
    name.endsWith('-s3alias') ||
    name.endsWith('--ol-s3') ||
    name.endsWith('.mrap') ||
    name.endsWith('--x-s3')
  )
    return false;
  return true;
}

/** Keys are at most 1024 bytes of UTF-8. */
export const MAX_KEY_BYTES = 1024;
