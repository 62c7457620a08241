// `kindling storage`: logical bytes (as uploaded), physical bytes (distinct encrypted blocks) and the
// deduplication ratio of stored objects and code, from the admin API. A tenant sees its own figures; the
// admin every tenant, the code zips and the total (or one tenant with --tenant).
import { connect, parseCommand } from './client.js';
import { emit, printTable } from './output.js';

interface Figures {
  logicalBytes: number;
  physicalBytes: number;
  bodies: number;
  dedupRatio: number;
}

interface StorageAnswer {
  tenants: (Figures & { tenant: string })[];
  code?: Figures;
  total?: Figures & { blocks: number };
  mode?: string;
  redundancy?: number;
}

export async function run(args: string[]): Promise<void> {
  const { values, common } = parseCommand(args, {
    usage: 'kindling storage [--tenant NAME]',
    maxPositionals: 0,
    options: { tenant: { type: 'string' } },
  });
  const q = new URLSearchParams();
  if (values.tenant !== undefined) q.set('tenant', values.tenant);
  const k = connect(common);
  const out = await k.admin<StorageAnswer>('GET', `/kindling/v1/storage${q.size > 0 ? `?${q}` : ''}`);
  emit(common.json, out, () => {
    const rows: (Figures & { name: string })[] = out.tenants.map((t) => ({ name: t.tenant, ...t }));
    if (out.code) rows.push({ name: '(code)', ...out.code });
    if (out.total) rows.push({ name: '(total)', ...out.total });
    printTable(
      rows,
      [
        { header: 'TENANT', value: (r) => r.name },
        { header: 'BODIES', value: (r) => r.bodies, right: true },
        { header: 'LOGICAL', value: (r) => bytes(r.logicalBytes), right: true },
        { header: 'PHYSICAL', value: (r) => bytes(r.physicalBytes), right: true },
        { header: 'DEDUP', value: (r) => `${r.dedupRatio.toFixed(2)}x`, right: true },
      ],
      '(nothing stored)',
    );
    if (out.total)
      process.stdout.write(
        `\n${out.total.blocks} blocks; storage ${out.mode}, redundancy N=${out.redundancy}\n`,
      );
  });
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}
