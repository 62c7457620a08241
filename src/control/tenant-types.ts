// What a tenant and its access keys are, for every layer (tenants.ts manages them, tenants-repo.ts stores them).
export interface Tenant {
  id: string;
  name: string;
  accountId: string;
  isAdmin: boolean;
  /** Concurrent executions allowed across the tenant's functions (admin setting). */
  concurrencyLimit: number | null;
  /** Outbound network for the tenant's functions: granted by an admin only, never by the tenant itself. */
  networkOutbound: boolean;
  /** IPv4 ranges (CIDR) the admin also opened: private, link-local or host ranges denied by default. */
  egressAllow: string[];
  createdAt: string;
}

/** The admin's network grant for one tenant. */
export interface NetworkGrant {
  networkOutbound: boolean;
  egressAllow: string[];
}

export interface AccessKey {
  accessKeyId: string;
  secretAccessKey: string;
  tenantId: string;
  /** Present on session keys; requests must carry it as X-Amz-Security-Token. */
  sessionToken: string | null;
  expiresAt: number | null;
}
