// The admin API's errors and their rendering: Lambda's catalogue and wire errors as JSON with `__type`.
import { KindlingError, LambdaErrors } from '../../errors.js';
import { lambdaWireError, serviceWireError } from '../lambda/errors.js';
import type { ApiRequest, ApiResponse } from '../surface.js';
import type { AdminSurfaceDeps } from './request.js';

export const AdminErrors = {
  adminOnly: () => LambdaErrors.accessDenied('This operation is allowed for the admin tenant only.'),
  sessionKey: () =>
    LambdaErrors.accessDenied(
      "Admin operations need the admin tenant's long-term key, not a function's session key.",
    ),
  unknownRoute: (method: string, path: string) =>
    new KindlingError('UnknownOperationException', 404, `No admin operation matches ${method} ${path}`),
  methodNotAllowed: (method: string, path: string) =>
    new KindlingError('MethodNotAllowedException', 405, `${method} is not allowed on ${path}`),
  noWorker: () => new KindlingError('ServiceUnavailableException', 503, 'The execution core is not running.'),
  keyNotFound: (id: string, tenant: string) =>
    new KindlingError('ResourceNotFoundException', 404, `Access key ${id} not found for tenant ${tenant}`),
  selfDelete: () =>
    new KindlingError(
      'InvalidParameterValueException',
      400,
      'You cannot delete the tenant you are signed in as.',
    ),
  tenantInUse: (name: string) =>
    new KindlingError(
      'ResourceConflictException',
      409,
      `Tenant ${name} still owns resources (functions, queues, ...); delete them first.`,
    ),
};

export function adminErrorResponse(err: unknown): ApiResponse {
  const e = lambdaWireError(err) ?? serviceWireError();
  return {
    status: e.status,
    headers: { 'content-type': 'application/json', 'x-amzn-errortype': e.type },
    body: JSON.stringify({ __type: e.type, message: e.message }),
  };
}

/** Admin operations are for the admin tenant's long-term key only. */
export async function requireAdmin(d: AdminSurfaceDeps, req: ApiRequest): Promise<void> {
  if (!req.tenant?.isAdmin) throw AdminErrors.adminOnly();
  // A function of the admin tenant gets short-lived session keys: running code must not administer
  // the platform, so admin operations take a long-term key only.
  if ((await d.tenants.resolveKey(req.accessKeyId))?.key.sessionToken != null) throw AdminErrors.sessionKey();
}
