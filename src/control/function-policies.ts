// Functions' resource-based policies (Lambda's AddPermission / GetPolicy / RemovePermission): statements
// per function id, and the one question the platform asks of them: may this account do this action?
import { createHash } from 'node:crypto';
import type { Sql } from '../store/sql.js';

/** A statement as Lambda returns it in GetPolicy. */
export interface PolicyStatement {
  Sid: string;
  Effect: 'Allow';
  /** `{AWS: 'arn:aws:iam::<account>:root'}`, `{Service: 's3.amazonaws.com'}` or `'*'`. */
  Principal: { AWS: string } | { Service: string } | '*';
  Action: string;
  Resource: string;
  Condition?: Record<string, Record<string, string>>;
}

const SCHEMA = [
  `CREATE TABLE function_policies (
     function_id TEXT NOT NULL,
     sid TEXT NOT NULL,
     statement TEXT NOT NULL,
     PRIMARY KEY (function_id, sid))`,
];

/** The policy's revision: a digest of its statements, so every node computes the same one. */
export function policyRevision(statements: readonly PolicyStatement[]): string {
  const h = createHash('sha256').update(JSON.stringify(statements)).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export class FunctionPolicyStore {
  readonly #sql: Sql;
  readonly #ready: Promise<void>;

  constructor(sql: Sql) {
    this.#sql = sql;
    this.#ready = sql.migrate('function-policies', SCHEMA);
    this.#ready.catch(() => {});
  }

  async #q(): Promise<Sql> {
    await this.#ready;
    return this.#sql;
  }

  async statements(functionId: string): Promise<PolicyStatement[]> {
    const rows = await (await this.#q()).all<{ statement: string }>(
      'SELECT statement FROM function_policies WHERE function_id = ? ORDER BY sid',
      [functionId],
    );
    return rows.map((r) => JSON.parse(r.statement) as PolicyStatement);
  }

  /** False when the function already has a statement with this id. */
  async add(functionId: string, s: PolicyStatement): Promise<boolean> {
    const r = await (await this.#q()).run(
      'INSERT INTO function_policies (function_id, sid, statement) VALUES (?, ?, ?) ON CONFLICT (function_id, sid) DO NOTHING',
      [functionId, s.Sid, JSON.stringify(s)],
    );
    return r.changes === 1;
  }

  async remove(functionId: string, sid: string): Promise<boolean> {
    const r = await (await this.#q()).run('DELETE FROM function_policies WHERE function_id = ? AND sid = ?', [
      functionId,
      sid,
    ]);
    return r.changes === 1;
  }

  async removeFunction(functionId: string): Promise<void> {
    await (await this.#q()).run('DELETE FROM function_policies WHERE function_id = ?', [functionId]);
  }

  /**
   * Whether a statement lets `account` do `action` on the function (for lambda:InvokeFunctionUrl, through
   * a URL of `urlAuthType`). Only account principals and `*` grant anything: service principals are
   * recorded for the tools that add them, Kindling's own event sources act inside the tenant.
   */
  async allows(
    functionId: string,
    account: string,
    action: 'lambda:InvokeFunction' | 'lambda:InvokeFunctionUrl',
    urlAuthType?: 'NONE' | 'AWS_IAM',
  ): Promise<boolean> {
    for (const s of await this.statements(functionId)) {
      if (s.Action !== action) continue;
      const p = s.Principal;
      const principalOk =
        p === '*' || ('AWS' in p && (p.AWS === account || p.AWS === `arn:aws:iam::${account}:root`));
      if (!principalOk) continue;
      const wanted = s.Condition?.StringEquals?.['lambda:FunctionUrlAuthType'];
      if (action === 'lambda:InvokeFunctionUrl' && wanted !== undefined && wanted !== urlAuthType) continue;
      return true;
    }
    return false;
  }
}
