// The interface every API surface (Lambda, SQS, S3, EventBridge, admin) implements. http.ts owns the
// server, body limits and SigV4; a surface only sees authenticated, parsed requests and answers them.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type { Tenant } from '../control/tenants.js';

/** What is known before the body is read: enough to pick a surface and check the signature. */
export interface RequestHead {
  method: string;
  /** Path as sent on the wire (percent-encoded), without the query. */
  rawPath: string;
  /** Decoded path. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** The SigV4 credential scope's service ('lambda', 'sqs', 's3', 'events', ...), or '' if unsigned. */
  service: string;
}

export interface ApiRequest extends RequestHead {
  /** The authenticated caller. */
  tenant: Tenant;
  /** The access key used (a session key for calls made from inside a function). */
  accessKeyId: string;
  /** The whole body, for surfaces that buffer (empty for streaming surfaces). */
  body: Buffer;
  /** The raw request stream; streaming surfaces (S3) read the body from it themselves. */
  raw: IncomingMessage;
  /**
   * For streaming surfaces: the payload hash the client signed ('UNSIGNED-PAYLOAD',
   * 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', ... or a hex SHA-256 the surface must check while streaming),
   * plus what is needed to verify aws-chunked chunk signatures.
   */
  signedPayload?: SignedPayloadInfo;
  /**
   * For surfaces that authenticate themselves: reads the whole body (up to `limit` bytes) the way the
   * edge reads unauthenticated bodies, within the pre-authentication budget.
   */
  readBody?: (limit: number) => Promise<Buffer>;
}

export interface SignedPayloadInfo {
  contentSha256: string;
  /** The seed signature (the request's own) that the first chunk signature chains from. */
  seedSignature: string;
  signingKey: Buffer;
  amzDate: string;
  scope: string;
}

export interface ApiResponse {
  status: number;
  headers?: Record<string, string | number | string[]>;
  body?: Buffer | string | Readable;
}

export interface ApiSurface {
  readonly name: string;
  /** The SigV4 services this surface answers (routing goes by credential scope first, DESIGN.md). */
  readonly services: readonly string[];
  /** For requests whose service is ambiguous or unsigned: does this surface own the request? */
  matches(head: RequestHead): boolean;
  /** Largest body accepted when buffering (bytes); streaming surfaces read `raw` themselves. */
  maxBodyBytes(head: RequestHead): number;
  readonly streaming?: boolean;
  /**
   * The surface checks any signature itself and reads its own body (`readBody`): the edge neither
   * interprets the Authorization header nor resolves a tenant (function URLs: `NONE` passes the
   * header to the function, `AWS_IAM` verifies SigV4 per URL). `tenant` is then unset.
   */
  readonly authenticatesItself?: boolean;
  /**
   * `OPTIONS` is a CORS preflight this surface answers without authentication, whatever signature its URL
   * carries (S3: a preflight to a presigned URL repeats the actual request's query).
   */
  readonly unsignedPreflight?: boolean;
  /** Some routes answer without authentication (e.g. S3 presigned are still signed; health checks). */
  allowAnonymous?(head: RequestHead): boolean;
  handle(req: ApiRequest): Promise<ApiResponse>;
  /** Renders an error (KindlingError or unknown) in this surface's wire shape. */
  errorResponse(err: unknown, head: RequestHead): ApiResponse;
}
