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
  let obj: Awaited<ReturnType<ObjectStore['openObject']>>;
  try {
    obj = await objects.openObject(tenant.id, bucket, key);
  } catch (e) {
    if (isDomainError(e)) {
      throw LambdaErrors.invalidParameter(
        `Error occurred while GetObject. S3 Error Code: ${e.code}. S3 Error Message: ${e.message}`,
      );
    }
    // A missing or corrupt blob, the store unreachable: the platform's fault, not the caller's.
    console.error(`kindling: could not read code object s3://${bucket}/${key}: ${String(e)}`);
    throw LambdaErrors.service(`Could not read s3://${bucket}/${key} from the object store.`);
  }
  if (obj.info.size > maxBytes) {
    obj.close();
    throw LambdaErrors.tooLarge(`Zipped size must be smaller than ${maxBytes} bytes (got ${obj.info.size})`);
  }
  const chunks: Buffer[] = [];
  try {
    for await (const c of obj.read() as AsyncIterable<Buffer>) chunks.push(c);
  } catch (e) {
    // The object's blob is missing or corrupt: the platform's fault, not the caller's.
    console.error(`kindling: could not read code object s3://${bucket}/${key}: ${String(e)}`);
    throw LambdaErrors.service(`Could not read s3://${bucket}/${key} from the object store.`);
  }
  return Buffer.concat(chunks);
}
