// The STS surface (SigV4 service `sts`, query protocol: `Action=...&Version=2011-06-15`, XML answers):
// GetCallerIdentity only, which deploy tools call first to learn the account. The caller is the tenant
// whose key signed the request: a long-term key answers as an IAM user named for the tenant, a function's
// session key as an assumed role. Every other action is refused with STS's InvalidAction.
import { createHash, randomUUID } from 'node:crypto';
import { MalformedEscapeError, malformedQueryPart } from '../../uri.js';
import { escapeXml } from '../s3/xml.js';
import type { ApiRequest, ApiResponse, ApiSurface, RequestHead } from '../surface.js';
import { STS_XMLNS, StsErrors, stsErrorResponse } from './errors.js';

const VERSION = '2011-06-15';
const MAX_BODY = 64 * 1024;
const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** An IAM-style unique id (`AIDA…`, `AROA…`): stable for a tenant, revealing nothing of its id. */
function uniqueId(prefix: string, seed: string): string {
  let s = prefix;
  for (const b of createHash('sha256').update(seed).digest().subarray(0, 17)) s += ID_ALPHABET[b % 32];
  return s;
}

export class StsSurface implements ApiSurface {
  readonly name = 'sts';
  readonly services = ['sts'] as const;

  matches(head: RequestHead): boolean {
    return head.service === 'sts' && (head.method === 'POST' || head.method === 'GET') && head.path === '/';
  }

  maxBodyBytes(): number {
    return MAX_BODY;
  }

  async handle(req: ApiRequest): Promise<ApiResponse> {
    const params = new URLSearchParams(req.query);
    const type = req.headers['content-type'] ?? '';
    if (req.body.length > 0 && (type === '' || type.startsWith('application/x-www-form-urlencoded'))) {
      const form = req.body.toString('utf8');
      const bad = malformedQueryPart(form);
      if (bad !== undefined) throw new MalformedEscapeError('parameter', bad);
      for (const [k, v] of new URLSearchParams(form)) params.append(k, v);
    }
    const action = params.get('Action') ?? '';
    const version = params.get('Version') ?? VERSION;
    if (action !== 'GetCallerIdentity' || version !== VERSION) {
      throw StsErrors.invalidAction(
        action === ''
          ? 'The request must contain the parameter Action.'
          : `Could not find operation ${action} for version ${version} (Kindling's STS offers GetCallerIdentity only).`,
      );
    }
    // Never accept and drop: GetCallerIdentity takes no parameters.
    for (const k of params.keys()) {
      if (k !== 'Action' && k !== 'Version')
        throw StsErrors.invalidParameter(`${k} is not supported by Kindling for GetCallerIdentity.`);
    }
    const t = req.tenant;
    const session = req.accessKeyId.startsWith('ASIA');
    const roleId = uniqueId('AROA', `role:${t.id}`);
    const arn = session
      ? `arn:aws:sts::${t.accountId}:assumed-role/${t.name}/${req.accessKeyId}`
      : `arn:aws:iam::${t.accountId}:user/${t.name}`;
    const userId = session ? `${roleId}:${req.accessKeyId}` : uniqueId('AIDA', `user:${t.id}`);
    const requestId = randomUUID();
    return {
      status: 200,
      headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId },
      body:
        `<GetCallerIdentityResponse xmlns="${STS_XMLNS}"><GetCallerIdentityResult>` +
        `<Arn>${escapeXml(arn)}</Arn><UserId>${escapeXml(userId)}</UserId><Account>${t.accountId}</Account>` +
        `</GetCallerIdentityResult><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata>` +
        '</GetCallerIdentityResponse>',
    };
  }

  errorResponse(err: unknown): ApiResponse {
    return stsErrorResponse(err);
  }
}
