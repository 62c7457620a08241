// The object store's error catalogue, in S3's words: each code is what an S3 client switches on, with
// the HTTP status S3 answers. The S3 surface (api/s3.ts) renders them as S3's XML error body; the
// `fields` become extra elements of that body (<Key>, <BucketName>, ...).
import { KindlingError } from '../../errors.js';

const e = (code: string, status: number, message: string, fields: Record<string, unknown> = {}) =>
  new KindlingError(code, status, message, fields);

export const S3Errors = {
  noSuchBucket: (bucket: string) =>
    e('NoSuchBucket', 404, 'The specified bucket does not exist', { BucketName: bucket }),
  noSuchKey: (key: string) => e('NoSuchKey', 404, 'The specified key does not exist.', { Key: key }),
  noSuchUpload: (uploadId: string) =>
    e(
      'NoSuchUpload',
      404,
      'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
      {
        UploadId: uploadId,
      },
    ),
  bucketAlreadyExists: (bucket: string) =>
    e(
      'BucketAlreadyExists',
      409,
      'The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.',
      {
        BucketName: bucket,
      },
    ),
  bucketAlreadyOwnedByYou: (bucket: string) =>
    e(
      'BucketAlreadyOwnedByYou',
      409,
      'Your previous request to create the named bucket succeeded and you already own it.',
      {
        BucketName: bucket,
      },
    ),
  bucketNotEmpty: (bucket: string) =>
    e('BucketNotEmpty', 409, 'The bucket you tried to delete is not empty', { BucketName: bucket }),
  invalidBucketName: (bucket: string) =>
    e('InvalidBucketName', 400, 'The specified bucket is not valid.', { BucketName: bucket }),
  keyTooLong: () => e('KeyTooLongError', 400, 'Your key is too long'),
  accessDenied: (message = 'Access Denied') => e('AccessDenied', 403, message),
  invalidRange: (size: number) =>
    e('InvalidRange', 416, 'The requested range is not satisfiable', { ActualObjectSize: size }),
  preconditionFailed: (condition: string) =>
    e('PreconditionFailed', 412, 'At least one of the pre-conditions you specified did not hold', {
      Condition: condition,
    }),
  badDigest: () => e('BadDigest', 400, 'The Content-MD5 you specified did not match what we received.'),
  invalidDigest: () => e('InvalidDigest', 400, 'The Content-MD5 you specified is not valid.'),
  contentSha256Mismatch: () =>
    e(
      'XAmzContentSHA256Mismatch',
      400,
      "The provided 'x-amz-content-sha256' header does not match what was computed.",
    ),
  checksumMismatch: (algorithm: string) =>
    e('BadDigest', 400, `The ${algorithm} you specified did not match the calculated checksum.`),
  invalidChecksum: (header: string) => e('InvalidRequest', 400, `Value for ${header} header is invalid.`),
  incompleteBody: () =>
    e(
      'IncompleteBody',
      400,
      'You did not provide the number of bytes specified by the Content-Length HTTP header',
    ),
  invalidChunk: (message: string) => e('InvalidRequest', 400, message),
  chunkSignatureMismatch: () =>
    e(
      'SignatureDoesNotMatch',
      403,
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
    ),
  invalidPart: (
    message = "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
  ) => e('InvalidPart', 400, message),
  invalidPartOrder: () =>
    e(
      'InvalidPartOrder',
      400,
      'The list of parts was not in ascending order. Parts must be ordered by part number.',
    ),
  entityTooSmall: () =>
    e('EntityTooSmall', 400, 'Your proposed upload is smaller than the minimum allowed object size.'),
  entityTooLarge: (message = 'Your proposed upload exceeds the maximum allowed object size.') =>
    e('EntityTooLarge', 400, message),
  invalidArgument: (message: string, name?: string, value?: string) =>
    e(
      'InvalidArgument',
      400,
      message,
      name === undefined ? {} : { ArgumentName: name, ArgumentValue: value ?? '' },
    ),
  invalidRequest: (message: string) => e('InvalidRequest', 400, message),
  malformedXml: () =>
    e(
      'MalformedXML',
      400,
      'The XML you provided was not well-formed or did not validate against our published schema',
    ),
  notImplemented: (what: string) =>
    e(
      'NotImplemented',
      501,
      `A header or query you provided implies functionality that is not implemented: ${what}`,
    ),
  methodNotAllowed: () =>
    e('MethodNotAllowed', 405, 'The specified method is not allowed against this resource.'),
  missingContentLength: () =>
    e('MissingContentLength', 411, 'You must provide the Content-Length HTTP header.'),
  internal: () => e('InternalError', 500, 'We encountered an internal error. Please try again.'),
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
