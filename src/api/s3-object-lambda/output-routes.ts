// GetObject requests through an Object Lambda access point waiting for their function's
// WriteGetObjectResponse, by output token. A token is good for one response of its own tenant, and only
// while its invocation runs.
import { randomBytes } from 'node:crypto';
import type { ApiResponse } from '../surface.js';

/**
 * The route a function's WriteGetObjectResponse is addressed to. The SDK puts it in front of the endpoint's
 * host (`io-kindling.127.0.0.1`): sandboxes resolve that name to loopback (sandbox/hosts.ts).
 */
export { OBJECT_LAMBDA_ROUTE } from '../../sandbox/hosts.js';

interface Waiting {
  tenantId: string;
  deliver: (reply: ApiResponse) => void;
}

export class OutputRoutes {
  readonly #waiting = new Map<string, Waiting>();

  /** A fresh token; `deliver` gets the function's response once, if it comes while the token is open. */
  open(tenantId: string, deliver: (reply: ApiResponse) => void): string {
    const token = randomBytes(32).toString('base64url');
    this.#waiting.set(token, { tenantId, deliver });
    return token;
  }

  /** Takes the token (a second response with it finds nothing); undefined when unknown or another tenant's. */
  take(tenantId: string, token: string): Waiting['deliver'] | undefined {
    const w = this.#waiting.get(token);
    if (!w || w.tenantId !== tenantId) return undefined;
    this.#waiting.delete(token);
    return w.deliver;
  }

  /** True when the token was still open (no response took it). */
  close(token: string): boolean {
    return this.#waiting.delete(token);
  }
}
