// The object store as a platform part: the engine (events/objects), bucket notifications
// (events/notifications, delivering to the core part's invoker) and the S3 API surface.
import { parseFunctionArn } from '../control/arn.js';
import { corePart } from '../core-part.js';
import { BucketNotifications } from '../events/notifications/notifications.js';
import { ObjectStore } from '../events/objects/store.js';
import type { Platform, PlatformPart } from '../platform.js';
import { S3Surface } from './s3/surface.js';

export interface ObjectStorePart extends PlatformPart {
  readonly name: 'objects';
  readonly store: ObjectStore;
  readonly notifications: BucketNotifications;
}

export function createObjectStorePart(platform: Platform): ObjectStorePart {
  const core = () => {
    try {
      return corePart(platform);
    } catch {
      return undefined;
    }
  };
  const notifications = new BucketNotifications({
    db: platform.db,
    tenants: platform.tenants,
    region: platform.config.region,
    invoker: () => core()?.invoker,
    functionExists: (tenant, arn) => {
      const functions = core()?.functions;
      const name = parseFunctionArn(arn)?.name;
      return functions && name ? functions.get(tenant.id, name) !== undefined : undefined;
    },
    retryBaseMs: platform.config.retryBaseMs,
    log: (m) => console.error(m),
  });
  const store = new ObjectStore({
    db: platform.db,
    dir: platform.paths.objects,
    hooks: {
      onChange: (change) => notifications.record(change),
      onBucketDeleted: (bucket) => notifications.bucketDeleted(bucket),
      afterCommit: () => notifications.kick(),
    },
  });
  return {
    name: 'objects',
    store,
    notifications,
    surfaces: [new S3Surface({ store, notifications, region: platform.config.region })],
    start() {
      store.recover();
      notifications.start();
    },
    async stop() {
      await notifications.stop();
    },
  };
}
