// Lambda's Code.S3Bucket/S3Key: a zip read from the tenant's own bucket of the object store, with S3's
// errors worded as Lambda reports them.
import type { Tenant } from '../control/tenants.js';
import { isDomainError, LambdaErrors } from '../errors.js';
import type { ObjectStore } from '../events/objects/store.js';

export async function readCodeObject(
  objects: ObjectStore,
  tenant: Tenant,
  bucket: string,
  key: string,
  maxBytes: number,
): Promise<Buffer> {
  let obj: ReturnType<ObjectStore['openObject']>;
  try {
    obj = objects.openObject(tenant.id, bucket, key);
  } catch (e) {
    if (isDomainError(e)) {
      throw LambdaErrors.invalidParameter(
        `Error occurred while GetObject. S3 Error Code: ${e.code}. S3 Error Message: ${e.message}`,
      );
    }
    throw e;
  }
  if (obj.info.size > maxBytes) {
    obj.close();
    throw LambdaErrors.tooLarge(`Zipped size must be smaller than ${maxBytes} bytes (got ${obj.info.size})`);
  }
  const chunks: Buffer[] = [];
  for await (const c of obj.read() as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}
