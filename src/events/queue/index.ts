// The queue engine's entry point: construct it once over the platform's store and hand it to the parts
// that need queues (SQS API, async-invoke destinations, event-source-mapping pollers).
import type { Db } from '../../store/database.js';
import { type QueueEngineOptions, SqliteQueueEngine } from './engine.js';

export { parseQueueArn } from './attributes.js';
export { type QueueEngineOptions, SqliteQueueEngine } from './engine.js';
export { SqsError, SqsErrors } from './errors.js';
export { md5OfMessageAttributes } from './md5.js';
export type * from './types.js';
export { queueUrl } from './types.js';

export function createQueueEngine(db: Db, opts: QueueEngineOptions): SqliteQueueEngine {
  return new SqliteQueueEngine(db, opts);
}
