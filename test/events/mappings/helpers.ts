// Shared by the mapping and RPC tests: functions created through the SDK, and what they were handed,
// read back from each invocation's log (handlers print `EVENT <json>`), so tests see real invocations.
import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { InvocationRecord } from '../../../src/telemetry/types.js';
import { createFunction as createShared } from '../../helpers/functions.js';
import type { TestPlatform } from '../../helpers/platform.js';

/** The shared helper (test/helpers/functions.ts) with these tests' timeout. */
export function createFunction(
  lambda: LambdaClient,
  name: string,
  source: string,
  timeout = 10,
): Promise<string> {
  return createShared(lambda, name, source, { Timeout: timeout });
}

/** A handler that logs the event it got, then runs `body` (which may use `event`). */
export const logging = (body = 'return null;') =>
  `export const handler = async (event) => { console.log('EVENT ' + JSON.stringify(event)); ${body} };`;

export interface Seen {
  functionName: string;
  event: unknown;
  errorType?: string;
}

/** Every event the platform's functions were invoked with, in completion order. */
export function watchInvocations(p: TestPlatform): Seen[] {
  const seen: Seen[] = [];
  p.platform.components.invocations.addObserver({
    onInvocation(r: InvocationRecord) {
      for (const line of r.log.split('\n')) {
        const i = line.indexOf('EVENT ');
        if (i < 0) continue;
        seen.push({
          functionName: r.functionName,
          event: JSON.parse(line.slice(i + 6)),
          ...(r.errorType !== undefined && { errorType: r.errorType }),
        });
        break;
      }
    },
  });
  return seen;
}

/** Waits until `check` returns a truthy value; fails with `what` after `ms` (a deadline, not a timing assertion). */
type Truthy<T> = Exclude<T, false | null | undefined | 0 | ''>;

export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  ms = 30_000,
): Promise<Truthy<Awaited<T>>> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v as Truthy<Awaited<T>>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface SqsRecord {
  messageId: string;
  receiptHandle: string;
  body: string;
  attributes: Record<string, string>;
  messageAttributes: Record<string, { stringValue?: string; dataType: string }>;
  md5OfBody: string;
  eventSource: string;
  eventSourceARN: string;
  awsRegion: string;
}

/** The SQS records a function was handed (all its invocations). */
export function recordsOf(seen: readonly Seen[], functionName: string): SqsRecord[] {
  return seen
    .filter((s) => s.functionName === functionName)
    .flatMap((s) => (s.event as { Records?: SqsRecord[] }).Records ?? []);
}
