// `kindling tenants`: tenants, their access keys, concurrency limits and outbound network grants (admin API,
// admin tenant only).
import { connect, parseCommand, parseIntFlag } from './client.js';
import { CliError, emit, printFields, printTable, USAGE } from './output.js';

const USAGE_TEXT = `kindling tenants [ls]
       kindling tenants create NAME [--admin]
       kindling tenants rm NAME
       kindling tenants keys NAME
       kindling tenants create-key NAME
       kindling tenants delete-key NAME ACCESS_KEY_ID
       kindling tenants limit NAME N|none
       kindling tenants network NAME [outbound|none] [--allow CIDR]...`;

interface TenantJson {
  name: string;
  id: string;
  accountId: string;
  isAdmin: boolean;
  concurrencyLimit: number | null;
  networkOutbound: boolean;
  egressAllow: string[];
  createdAt: string;
  keys?: number;
}

interface NetworkJson {
  tenant: string;
  networkOutbound: boolean;
  egressAllow: string[];
}

const networkText = (t: { networkOutbound: boolean; egressAllow: string[] }) =>
  !t.networkOutbound ? 'none' : `outbound${t.egressAllow.length > 0 ? ` +${t.egressAllow.join(',')}` : ''}`;

/** Each subcommand's positional arguments. */
const SUBCOMMANDS: Record<string, string[]> = {
  ls: [],
  create: ['NAME'],
  rm: ['NAME'],
  keys: ['NAME'],
  'create-key': ['NAME'],
  'delete-key': ['NAME', 'ACCESS_KEY_ID'],
  limit: ['NAME', 'N|none'],
  network: ['NAME', 'outbound|none'],
};

const path = (...segs: string[]) =>
  `/kindling/v1/tenants${segs.map((s) => `/${encodeURIComponent(s)}`).join('')}`;

export async function run(args: string[]): Promise<void> {
  const { values, positionals, common } = parseCommand(args, {
    usage: USAGE_TEXT,
    options: { admin: { type: 'boolean' }, allow: { type: 'string', multiple: true } },
  });
  const [sub = 'ls', ...rest] = positionals;
  const params = SUBCOMMANDS[sub];
  if (params === undefined)
    throw new CliError(`unknown subcommand '${sub}' (try: ${Object.keys(SUBCOMMANDS).join(', ')})`, USAGE);
  // `network NAME` alone shows the grant.
  const showNetwork = sub === 'network' && rest.length === 1;
  if (rest.length !== params.length && !showNetwork)
    throw new CliError(`usage: kindling tenants ${[sub, ...params].join(' ')}`, USAGE);
  if (values.admin && sub !== 'create') throw new CliError('--admin only applies to create', USAGE);
  const allow = values.allow ?? [];
  if (allow.length > 0 && (sub !== 'network' || rest[1] !== 'outbound'))
    throw new CliError('--allow only applies to: tenants network NAME outbound', USAGE);
  if (sub === 'network' && !showNetwork && rest[1] !== 'outbound' && rest[1] !== 'none')
    throw new CliError(`network must be 'outbound' or 'none', got '${rest[1]}'`, USAGE);
  const [name = '', arg = ''] = rest;
  // Validate locally before connecting: a typo should not need a server.
  const limit =
    sub === 'limit' ? (arg === 'none' ? null : parseIntFlag(arg, 'limit', 0, 1_000_000)!) : undefined;
  const k = connect(common);

  switch (sub) {
    case 'ls': {
      const out = await k.admin<{ tenants: TenantJson[] }>('GET', path());
      emit(common.json, out.tenants, () =>
        printTable(out.tenants, [
          { header: 'NAME', value: (t) => t.name },
          { header: 'ACCOUNT', value: (t) => t.accountId },
          { header: 'ADMIN', value: (t) => (t.isAdmin ? 'yes' : '') },
          { header: 'LIMIT', value: (t) => t.concurrencyLimit ?? 'default', right: true },
          { header: 'KEYS', value: (t) => t.keys, right: true },
          { header: 'NETWORK', value: (t) => networkText(t) },
          { header: 'CREATED', value: (t) => t.createdAt },
        ]),
      );
      return;
    }
    case 'create': {
      const out = await k.admin<{
        tenant: TenantJson;
        accessKey: { accessKeyId: string; secretAccessKey: string };
      }>('POST', path(), { name, ...(values.admin && { admin: true }) });
      emit(common.json, out, () => {
        process.stdout.write(
          `Created tenant ${out.tenant.name} (account ${out.tenant.accountId}). Its access key (shown once):\n`,
        );
        process.stdout.write(
          `  AWS_ACCESS_KEY_ID=${out.accessKey.accessKeyId}\n  AWS_SECRET_ACCESS_KEY=${out.accessKey.secretAccessKey}\n`,
        );
      });
      return;
    }
    case 'rm':
      await k.admin('DELETE', path(name));
      emit(common.json, { deleted: name }, () => process.stdout.write(`Deleted tenant ${name}\n`));
      return;
    case 'keys': {
      const out = await k.admin<{ keys: { accessKeyId: string }[] }>('GET', path(name, 'keys'));
      emit(common.json, out.keys, () =>
        printTable(out.keys, [{ header: 'ACCESS KEY ID', value: (x) => x.accessKeyId }], '(no keys)'),
      );
      return;
    }
    case 'create-key': {
      const out = await k.admin<{ accessKeyId: string; secretAccessKey: string }>('POST', path(name, 'keys'));
      emit(common.json, out, () => {
        process.stdout.write(`New access key for ${name} (the secret is shown once):\n`);
        process.stdout.write(
          `  AWS_ACCESS_KEY_ID=${out.accessKeyId}\n  AWS_SECRET_ACCESS_KEY=${out.secretAccessKey}\n`,
        );
      });
      return;
    }
    case 'delete-key':
      await k.admin('DELETE', path(name, 'keys', arg));
      emit(common.json, { deleted: arg }, () =>
        process.stdout.write(`Deleted access key ${arg} of ${name}\n`),
      );
      return;
    case 'limit': {
      const out = await k.admin<{ tenant: TenantJson }>('PUT', path(name, 'concurrency'), { limit });
      emit(common.json, out.tenant, () =>
        printFields([
          ['Tenant', out.tenant.name],
          ['ConcurrencyLimit', out.tenant.concurrencyLimit ?? 'default'],
        ]),
      );
      return;
    }
    case 'network': {
      const out = showNetwork
        ? await k.admin<NetworkJson>('GET', path(name, 'network'))
        : await k.admin<NetworkJson>('PUT', path(name, 'network'), {
            networkOutbound: arg === 'outbound',
            egressAllow: allow,
          });
      emit(common.json, out, () =>
        printFields([
          ['Tenant', out.tenant],
          ['Network', out.networkOutbound ? 'outbound' : 'none'],
          ['EgressAllow', out.egressAllow.length > 0 ? out.egressAllow.join(', ') : '-'],
        ]),
      );
      return;
    }
  }
}
