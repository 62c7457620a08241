// Turns one RPC-style message into invocations of the functions it names, in the queue owner's tenant
// (never a tenant taken from the message). Aggregate messages run their sub-events in order with a
// checkpoint after each; the outcome is recorded and a reply sent to replyTo when the message names one.
import { accountInFunctionRef } from '../../control/arn.js';
import type { Tenant } from '../../control/tenants.js';
import { errorTypeOf, isDomainError } from '../../errors.js';
import type { Invoker } from '../../invoke/types.js';
import type { FunctionDirectory } from '../mappings/types.js';
import type { Checkpoint, CheckpointStore } from './checkpoint-repo.js';
import { parseRpcMessage, type RpcMessage } from './rpc-message.js';

export interface RpcDelivery {
  /** Checkpoint namespace: the queue ARN or the Redis stream's key. */
  source: string;
  /** Stable across redeliveries of the same message. */
  messageId: string;
  body: string;
  /** The source gives up on the message after this delivery (its dead-letter path takes it next). */
  finalAttempt: boolean;
}

export type RpcOutcome =
  /** Finished (or finished before): delete / ack the message. */
  | { kind: 'done' }
  /** Leave it leased: it returns after the visibility timeout and resumes at its checkpoint. */
  | { kind: 'retry'; throttled: boolean }
  /** Invalid: dead-letter it now; nothing was invoked. */
  | { kind: 'reject'; reason: string };

/** Sends a reply body to what a message named as replyTo, within the queue owner's tenant. */
export type Replier = (replyTo: string, body: string) => Promise<void>;

export interface RpcReply {
  requestId: string;
  status: 'success' | 'error';
  result?: unknown;
  error?: { errorType: string; errorMessage: string; index?: number };
}

export interface RpcProcessorDeps {
  invoker: Invoker;
  functions: FunctionDirectory;
  checkpoints: CheckpointStore;
}

export class RpcProcessor {
  readonly #deps: RpcProcessorDeps;

  constructor(deps: RpcProcessorDeps) {
    this.#deps = deps;
  }

  async process(tenant: Tenant, d: RpcDelivery, reply: Replier): Promise<RpcOutcome> {
    const { checkpoints } = this.#deps;
    const parsed = parseRpcMessage(d.body);
    const requestId = (parsed.ok ? parsed.message.requestId : parsed.requestId) ?? d.messageId;
    const replyTo = parsed.ok ? parsed.message.replyTo : parsed.replyTo;
    const found = await checkpoints.get(d.source, d.messageId);
    // Sources are per tenant already; a checkpoint of another tenant is never taken as this message's.
    const existing = found?.tenantId === tenant.id ? found : undefined;

    if (existing && existing.status !== 'running') {
      // A duplicate delivery of a finished message: only a reply lost to a crash is (re)sent.
      if (!existing.replied && replyTo) {
        await this.#reply(existing, replyTo, requestId, reply, parsed.ok && parsed.message.aggregate);
      }
      if (existing.status === 'rejected')
        return { kind: 'reject', reason: existing.error?.errorMessage ?? 'rejected' };
      // A failed message keeps going the dead-letter way (the queue moves it on its next receive).
      return existing.status === 'failed' ? { kind: 'retry', throttled: false } : { kind: 'done' };
    }

    const invalid = parsed.ok ? await this.#validate(tenant, parsed.message) : parsed.reason;
    if (invalid !== undefined) {
      const cp: Checkpoint = {
        source: d.source,
        messageId: d.messageId,
        tenantId: tenant.id,
        nextIndex: 0,
        total: parsed.ok ? parsed.message.events.length : 0,
        results: [],
        status: 'rejected',
        error: { errorType: 'InvalidRpcMessage', errorMessage: invalid },
        replied: false,
      };
      await checkpoints.put(cp);
      if (replyTo) await this.#reply(cp, replyTo, requestId, reply);
      return { kind: 'reject', reason: invalid };
    }
    const msg = (parsed as { ok: true; message: RpcMessage }).message;

    const cp: Checkpoint = existing ?? {
      source: d.source,
      messageId: d.messageId,
      tenantId: tenant.id,
      nextIndex: 0,
      total: msg.events.length,
      results: [],
      status: 'running',
      error: null,
      replied: false,
    };
    for (let i = cp.nextIndex; i < msg.events.length; i++) {
      const ev = msg.events[i]!;
      let failure: { errorType: string; errorMessage: string; index?: number };
      try {
        const res = await this.#deps.invoker.invokeSync(
          tenant,
          ev.invoke,
          Buffer.from(JSON.stringify(ev.args ?? {})),
          {
            ...(ev.qualifier !== undefined && { qualifier: ev.qualifier }),
          },
        );
        if (!res.functionError) {
          cp.results[i] = parsePayload(res.payload);
          cp.nextIndex = i + 1;
          cp.error = null;
          await checkpoints.put(cp);
          continue;
        }
        failure = functionErrorOf(res.payload, res.errorType);
      } catch (e) {
        if (isDomainError(e, 'Throttled')) return { kind: 'retry', throttled: true };
        failure = {
          errorType: errorTypeOf(e),
          errorMessage: e instanceof Error ? e.message : String(e),
        };
      }
      if (msg.aggregate) failure.index = i;
      cp.error = failure;
      // The last delivery records the failure and answers; the message then goes the queue's DLQ way.
      if (d.finalAttempt) {
        cp.status = 'failed';
        await checkpoints.put(cp);
        if (msg.replyTo) await this.#reply(cp, msg.replyTo, requestId, reply, msg.aggregate);
      } else {
        await checkpoints.put(cp);
      }
      return { kind: 'retry', throttled: false };
    }
    cp.status = 'succeeded';
    await checkpoints.put(cp);
    if (msg.replyTo) await this.#reply(cp, msg.replyTo, requestId, reply, msg.aggregate);
    return { kind: 'done' };
  }

  /** Every sub-event must name one of the owner's own functions; checked before anything runs. */
  async #validate(tenant: Tenant, msg: RpcMessage): Promise<string | undefined> {
    for (const [i, ev] of msg.events.entries()) {
      const where = msg.aggregate ? `batch.${i}.invoke` : 'invoke';
      const account = accountInFunctionRef(ev.invoke);
      if (account !== undefined && account !== tenant.accountId)
        return `${where}: function not found: ${ev.invoke}`;
      if (!(await this.#deps.functions.find(tenant, ev.invoke)))
        return `${where}: function not found: ${ev.invoke}`;
    }
    return undefined;
  }

  /** Single messages answer with their one result, aggregates with the array of results. */
  async #reply(
    cp: Checkpoint,
    replyTo: string,
    requestId: string,
    reply: Replier,
    aggregate = false,
  ): Promise<void> {
    const body: RpcReply =
      cp.status === 'succeeded'
        ? { requestId, status: 'success', result: aggregate ? cp.results : cp.results[0] }
        : { requestId, status: 'error', error: cp.error ?? { errorType: 'Unknown', errorMessage: 'failed' } };
    try {
      await reply(replyTo, JSON.stringify(body));
    } catch (e) {
      // A reply that cannot be delivered (no such queue) must not make the message run again.
      console.error(`kindling: rpc reply to ${replyTo} failed: ${(e as Error).message}`);
      return;
    }
    cp.replied = true;
    // A store failure here surfaces: the message comes back and replies again (at least once).
    await this.#deps.checkpoints.put(cp);
  }
}

function parsePayload(payload: Buffer): unknown {
  const text = payload.toString('utf8');
  if (text === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function functionErrorOf(
  payload: Buffer,
  errorType: string | undefined,
): { errorType: string; errorMessage: string } {
  const p = parsePayload(payload) as { errorType?: unknown; errorMessage?: unknown } | null;
  return {
    errorType: typeof p?.errorType === 'string' ? p.errorType : (errorType ?? 'Unhandled'),
    errorMessage: typeof p?.errorMessage === 'string' ? p.errorMessage : 'function failed',
  };
}
