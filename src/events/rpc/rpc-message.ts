// The wire shape of RPC-style messages, validated once when a message is taken off its queue:
//   {"invoke": "fn", "args": {...}, "replyTo": "<queue url/ARN or stream>", "requestId": "..."}
//   {"batch": [{"invoke": "fn", "args": {...}}, ...], "replyTo": ..., "requestId": ...}
import { z } from 'zod';

const functionRef = z.string().min(1).max(170);

const subEvent = z.strictObject({
  invoke: functionRef,
  args: z.unknown().optional(),
  /** Version or alias; $LATEST when absent. */
  qualifier: z.string().min(1).max(128).optional(),
});

const envelope = {
  replyTo: z.string().min(1).max(1024).optional(),
  /** Echoed in the reply so the sender can correlate; the message id when absent. */
  requestId: z.string().min(1).max(256).optional(),
};

const single = z.strictObject({ ...subEvent.shape, ...envelope });
const aggregate = z.strictObject({ batch: z.array(subEvent).min(1).max(100), ...envelope });

export type RpcSubEvent = z.infer<typeof subEvent>;

export interface RpcMessage {
  events: RpcSubEvent[];
  aggregate: boolean;
  replyTo?: string;
  requestId?: string;
}

export type ParsedRpc =
  | { ok: true; message: RpcMessage }
  | { ok: false; reason: string; replyTo?: string; requestId?: string };

export function parseRpcMessage(body: string): ParsedRpc {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { ok: false, reason: 'message body is not JSON' };
  }
  const isObject = json !== null && typeof json === 'object' && !Array.isArray(json);
  // Even a message that fails validation gets an answer when its replyTo is readable.
  const loose = isObject ? (json as Record<string, unknown>) : {};
  const replyTo = typeof loose.replyTo === 'string' && loose.replyTo.length > 0 ? loose.replyTo : undefined;
  const requestId =
    typeof loose.requestId === 'string' && loose.requestId.length > 0 ? loose.requestId : undefined;
  const fail = (reason: string): ParsedRpc => ({ ok: false, reason, replyTo, requestId });
  if (!isObject) return fail('message must be a JSON object');
  if ('batch' in loose) {
    const r = aggregate.safeParse(json);
    if (!r.success) return fail(describe(r.error));
    return {
      ok: true,
      message: {
        events: r.data.batch,
        aggregate: true,
        replyTo: r.data.replyTo,
        requestId: r.data.requestId,
      },
    };
  }
  const r = single.safeParse(json);
  if (!r.success) return fail(describe(r.error));
  const { replyTo: rt, requestId: rid, ...event } = r.data;
  return { ok: true, message: { events: [event], aggregate: false, replyTo: rt, requestId: rid } };
}

function describe(err: z.ZodError): string {
  const first = err.issues[0];
  if (!first) return 'invalid RPC message';
  const where = first.path.length > 0 ? first.path.join('.') : 'message';
  return `${where}: ${first.message}`;
}
