// IPv4 CIDR ranges: parsed once where they enter (the admin API), compared where egress routes are built.
// Only IPv4: sandboxes get no IPv6 egress at all (see sandbox/egress.ts), so an IPv6 range could not be honoured.

export interface Cidr {
  /** The network address as an unsigned 32-bit number. */
  base: number;
  prefix: number;
}

const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

export function parseIpv4(s: string): number | undefined {
  const m = IPV4.exec(s);
  if (m === null) return undefined;
  return ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

const mask = (prefix: number) => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

/** Parses `a.b.c.d/n` (or a bare address as /32); the reason it is refused otherwise. */
export function parseCidr(s: string): Cidr | { error: string } {
  const [addr = '', len, extra] = s.split('/');
  if (extra !== undefined) return { error: `${JSON.stringify(s)} is not an IPv4 CIDR range` };
  if (addr.includes(':')) {
    return {
      error: `${JSON.stringify(s)} is IPv6; sandboxes have no IPv6 egress, only IPv4 ranges can be allowed`,
    };
  }
  const base = parseIpv4(addr);
  const prefix = len === undefined ? 32 : /^(3[0-2]|[12]?\d)$/.test(len) ? Number(len) : undefined;
  if (base === undefined || prefix === undefined)
    return { error: `${JSON.stringify(s)} is not an IPv4 CIDR range such as 203.0.113.0/24` };
  const network = (base & mask(prefix)) >>> 0;
  if (network !== base) {
    return {
      error: `${s} has host bits set; the network address is ${formatIpv4(network)}/${prefix}`,
    };
  }
  return { base, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIpv4(c.base)}/${c.prefix}`;
}

/** Whether `inner` lies entirely within `outer`. */
export function cidrWithin(inner: Cidr, outer: Cidr): boolean {
  return inner.prefix >= outer.prefix && (inner.base & mask(outer.prefix)) >>> 0 === outer.base;
}

export function cidrContains(c: Cidr, addr: number): boolean {
  return (addr & mask(c.prefix)) >>> 0 === c.base;
}
