// A builder for invocation records in telemetry unit tests.
import type { InvocationRecord } from '../../src/telemetry/types.js';

let n = 0;

export function record(over: Partial<InvocationRecord> = {}): InvocationRecord {
  n++;
  return {
    tenantId: 't-1',
    accountId: '123456789012',
    functionName: 'fn',
    functionArn: 'arn:aws:lambda:us-east-1:123456789012:function:fn',
    version: '$LATEST',
    requestId: `req-${n}`,
    invocationType: 'RequestResponse',
    start: 'warm',
    timestamp: Date.UTC(2026, 10, 25, 9, 30),
    durationMs: 12.5,
    billedDurationMs: 13,
    memoryMB: 128,
    maxMemoryUsedMB: 40,
    log: `START RequestId: req-${n}\nhello ${n}\nEND RequestId: req-${n}\nREPORT RequestId: req-${n}\n`,
    ...over,
  };
}
