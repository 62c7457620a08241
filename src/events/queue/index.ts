// The queue engine's entry point: construct it once over the platform's store and hand it to the parts
// that need queues (SQS API, async-invoke destinations, event-source-mapping pollers).
import type { Sql } from '../../store/sql.js';
import { type QueueEngineOptions, StoreQueueEngine } from './engine.js';

export { parseQueueArn } from './attributes.js';
export { type QueueEngineOptions, StoreQueueEngine } from './engine.js';
export { SqsError, SqsErrors } from './errors.js';
export { md5OfMessageAttributes } from './md5.js';
export type * from './types.js';
export { queueUrl } from './types.js';

/** The engine over the store; its schema is migrated before its first call completes (see ready()). */
export function createQueueEngine(sql: Sql, opts: QueueEngineOptions): StoreQueueEngine {
  return new StoreQueueEngine(sql, opts);
}
