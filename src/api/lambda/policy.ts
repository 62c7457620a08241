// Lambda's resource-based policy operations: AddPermission, GetPolicy, RemovePermission
// (/2015-03-31/functions/{name}/policy). What a statement grants is enforced where it is used: a
// cross-account Invoke (api/lambda/invoke.ts) and AWS_IAM function URLs (api/function-url/).
import { z } from 'zod';
import {
  type FunctionPolicyStore,
  type PolicyStatement,
  policyRevision,
} from '../../control/function-policies.js';
import type { FunctionRecord } from '../../control/functions.js';
import type { Tenant } from '../../control/tenants.js';
import { LambdaErrors } from '../../errors.js';
import type { ApiRequest } from '../surface.js';
import { json } from './errors.js';
import type { LambdaRoute } from './routes.js';
import { validate, validateBody } from './validation.js';

export interface PolicyRouteDeps {
  resolve(tenant: Tenant, ref: string, qualifier?: string): Promise<FunctionRecord>;
  policies: FunctionPolicyStore;
}

const BASE = '/2015-03-31/functions/{FunctionName}/policy';
const SID = /^[a-zA-Z0-9_.-]{1,100}$/;

/** The actions Kindling enforces; any other is refused by name rather than stored and ignored. */
const ACTIONS = ['lambda:InvokeFunction', 'lambda:InvokeFunctionUrl'] as const;

const AddBody = z.object({
  StatementId: z.string().regex(SID, 'Member must satisfy regular expression pattern: ([a-zA-Z0-9-_.]+)'),
  Action: z.string().min(1).max(256),
  Principal: z.string().min(1).max(256),
  SourceArn: z.string().min(1).max(1024).optional(),
  SourceAccount: z
    .string()
    .regex(/^\d{12}$/)
    .optional(),
  FunctionUrlAuthType: z.enum(['NONE', 'AWS_IAM']).optional(),
  RevisionId: z.string().max(64).optional(),
});
const Query = z.object({
  Qualifier: z.string().min(1).max(128).optional(),
  RevisionId: z.string().max(64).optional(),
});

function principalOf(p: string): PolicyStatement['Principal'] {
  if (p === '*') return '*';
  if (/^\d{12}$/.test(p)) return { AWS: `arn:aws:iam::${p}:root` };
  if (/^arn:aws:iam::\d{12}:root$/.test(p)) return { AWS: p };
  if (/^[a-z0-9.-]+\.amazonaws\.com$/.test(p)) return { Service: p };
  throw LambdaErrors.invalidParameter(
    `The provided principal was invalid. Please check the principal and try again. (${p}: an account id, arn:aws:iam::<account>:root, * or a service principal)`,
  );
}

async function target(deps: PolicyRouteDeps, req: ApiRequest, name: string) {
  const q = validate(Query, Object.fromEntries(req.query));
  const rec = await deps.resolve(req.tenant, name, q.Qualifier);
  // A policy here is the whole function's: one on a version or alias would grant more than it says.
  if (rec.qualifier !== undefined)
    throw LambdaErrors.invalidParameter(
      `Resource policies of a version or alias (${rec.qualifier}) are not supported by Kindling: add the statement to the function.`,
    );
  return { rec, revision: q.RevisionId };
}

const noPolicy = () => LambdaErrors.notFound('The resource you requested does not exist.');

function checkRevision(given: string | undefined, statements: PolicyStatement[]): void {
  if (given !== undefined && given !== policyRevision(statements))
    throw LambdaErrors.preconditionFailed(
      'The Revision Id provided does not match the latest Revision Id. Call the GetPolicy API to retrieve the latest Revision Id',
    );
}

export function policyRoutes(deps: PolicyRouteDeps): LambdaRoute[] {
  return [
    {
      method: 'POST',
      path: BASE,
      operation: 'AddPermission',
      maxBodyBytes: 64 * 1024,
      async handle(req, p) {
        const body = validateBody(AddBody, req.body);
        const { rec } = await target(deps, req, p.FunctionName!);
        if (!(ACTIONS as readonly string[]).includes(body.Action))
          throw LambdaErrors.invalidParameter(
            `Action ${body.Action} is not supported by Kindling: resource policies grant lambda:InvokeFunction or lambda:InvokeFunctionUrl.`,
          );
        const principal = principalOf(body.Principal);
        if (
          principal !== '*' &&
          'AWS' in principal &&
          (body.SourceArn !== undefined || body.SourceAccount !== undefined)
        )
          throw LambdaErrors.invalidParameter(
            'SourceArn and SourceAccount are supported with service principals only.',
          );
        if (body.FunctionUrlAuthType !== undefined && body.Action !== 'lambda:InvokeFunctionUrl')
          throw LambdaErrors.invalidParameter(
            'FunctionUrlAuthType is only valid with the lambda:InvokeFunctionUrl action.',
          );
        checkRevision(body.RevisionId, await deps.policies.statements(rec.id));
        const condition: Record<string, Record<string, string>> = {};
        if (body.SourceArn !== undefined) condition.ArnLike = { 'AWS:SourceArn': body.SourceArn };
        if (body.SourceAccount !== undefined)
          condition.StringEquals = { 'AWS:SourceAccount': body.SourceAccount };
        if (body.FunctionUrlAuthType !== undefined)
          condition.StringEquals = {
            ...condition.StringEquals,
            'lambda:FunctionUrlAuthType': body.FunctionUrlAuthType,
          };
        const statement: PolicyStatement = {
          Sid: body.StatementId,
          Effect: 'Allow',
          Principal: principal,
          Action: body.Action,
          Resource: rec.arn,
          ...(Object.keys(condition).length > 0 && { Condition: condition }),
        };
        if (!(await deps.policies.add(rec.id, statement)))
          throw LambdaErrors.conflict(
            `The statement id (${body.StatementId}) provided already exists. Please provide a new statement id, or remove the existing statement.`,
          );
        return json(201, { Statement: JSON.stringify(statement) });
      },
    },
    {
      method: 'GET',
      path: BASE,
      operation: 'GetPolicy',
      async handle(req, p) {
        const { rec } = await target(deps, req, p.FunctionName!);
        const statements = await deps.policies.statements(rec.id);
        if (statements.length === 0) throw noPolicy();
        return json(200, {
          Policy: JSON.stringify({ Version: '2012-10-17', Id: 'default', Statement: statements }),
          RevisionId: policyRevision(statements),
        });
      },
    },
    {
      method: 'DELETE',
      path: `${BASE}/{StatementId}`,
      operation: 'RemovePermission',
      async handle(req, p) {
        const { rec, revision } = await target(deps, req, p.FunctionName!);
        const statements = await deps.policies.statements(rec.id);
        checkRevision(revision, statements);
        if (!(await deps.policies.remove(rec.id, p.StatementId!)))
          throw LambdaErrors.notFound(`Statement ${p.StatementId} is not found in resource policy.`);
        return { status: 204 };
      },
    },
  ];
}
