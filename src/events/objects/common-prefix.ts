// The common prefix a key rolls up into in an S3 listing with a delimiter: the key up to and including the
// first delimiter after the listing's prefix. Shared by ListObjects(V2), ListObjectVersions and
// ListMultipartUploads.

/** The key's common prefix, or undefined when the listing has no delimiter or the key holds none past `prefix`. */
export function commonPrefixOf(
  key: string,
  prefix: string,
  delimiter: string | undefined,
): string | undefined {
  if (!delimiter) return undefined;
  const at = key.indexOf(delimiter, prefix.length);
  return at >= 0 ? key.slice(0, at + delimiter.length) : undefined;
}
