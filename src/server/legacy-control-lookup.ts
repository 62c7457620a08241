// TRANSITIONAL (issue 9): synchronous reads of tenants and functions for the modules not yet on the async
// store (async dispatcher, schedules, mappings, notifications), over the SQLite handle they still use.
// With the SQLite store it is the same file the async TenantStore / FunctionStore write; with PostgreSQL
// those modules are not cluster-ready yet anyway. Delete this file once they await TenantStore.get,
// FunctionStore.get and InvocationService.resolve instead.
import { functionArn, parseFunctionRef } from '../control/function-names.js';
import { type FunctionRecord, LATEST, toFunctionRecord } from '../control/functions.js';
import type { FunctionRow } from '../control/functions-repo.js';
import type { Tenant } from '../control/tenants.js';
import { type TenantRow, toTenant } from '../control/tenants-repo.js';
import { LambdaErrors } from '../errors.js';
import type { Db } from '../store/database.js';

export interface LegacyControlLookup {
  tenants: { get(id: string): Tenant | undefined };
  functions: { get(tenantId: string, name: string): FunctionRecord | undefined };
  resolve(tenant: Tenant, functionRef: string, qualifier?: string): FunctionRecord;
}

export function legacyControlLookup(db: Db, region: string): LegacyControlLookup {
  const tenant = (id: string) => {
    const row = db.prepare('SELECT * FROM tenants WHERE id = ? OR name = ?').get(id, id) as
      | TenantRow
      | undefined;
    return row && toTenant(row);
  };
  const fn = (tenantId: string, name: string) => {
    const row = db.prepare('SELECT * FROM functions WHERE tenant_id = ? AND name = ?').get(tenantId, name) as
      | FunctionRow
      | undefined;
    return row && toFunctionRecord(row, region);
  };
  return {
    tenants: { get: tenant },
    functions: { get: fn },
    // As InvocationService.resolve does it, synchronously.
    resolve(t, functionRef, qualifier) {
      const ref = parseFunctionRef(functionRef);
      if (qualifier !== undefined && ref.qualifier !== undefined && qualifier !== ref.qualifier) {
        throw LambdaErrors.invalidParameter(
          'The derived qualifier from the function name does not match the specified qualifier.',
        );
      }
      const q = qualifier ?? ref.qualifier;
      const rec =
        (ref.accountId === undefined || ref.accountId === t.accountId) &&
        (ref.region === undefined || ref.region === region)
          ? fn(t.id, ref.name)
          : undefined;
      if (!rec) {
        const arn = functionArn(ref.region ?? region, ref.accountId ?? t.accountId, ref.name);
        throw LambdaErrors.functionNotFound(q ? `${arn}:${q}` : arn);
      }
      if (q !== undefined && q !== LATEST) throw LambdaErrors.functionNotFound(`${rec.arn}:${q}`);
      return rec;
    },
  };
}
