/**
 * Allocators for Service cluster IPs (from the service CIDR) and node ports
 * (30000-32767). State is rebuilt from the stored Services at start and kept
 * in memory; the store claims before a write and releases on failure/delete.
 */

/** Parses dotted IPv4 to a number, or undefined. */
export function ipToNumber(ip: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
}

/** Formats a number as dotted IPv4. */
export function numberToIp(n: number): string {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** A CIDR such as 10.96.0.0/12. */
export interface Cidr {
  base: number;
  size: number;
  text: string;
}

/** Parses an IPv4 CIDR. */
export function parseCidr(text: string): Cidr {
  const [ip, bits] = text.split('/');
  const base = ipToNumber(ip);
  const b = Number(bits);
  if (base === undefined || !Number.isInteger(b) || b < 8 || b > 30) throw new Error(`invalid CIDR ${text}`);
  const size = 2 ** (32 - b);
  return { base: base - (base % size), size, text };
}

/** Hands out values from a range, remembering which are taken. */
export class RangeAllocator {
  private readonly used = new Set<number>();
  constructor(readonly first: number, readonly last: number) {}

  /** True if v is inside the range. */
  contains(v: number): boolean {
    return v >= this.first && v <= this.last;
  }

  /** Claims a specific value; false if taken. */
  claim(v: number): boolean {
    if (this.used.has(v)) return false;
    this.used.add(v);
    return true;
  }

  /** Claims a free value (random start, then linear), or undefined when full. */
  next(): number | undefined {
    const n = this.last - this.first + 1;
    const start = Math.floor(Math.random() * n);
    for (let i = 0; i < n; i++) {
      const v = this.first + ((start + i) % n);
      if (!this.used.has(v)) {
        this.used.add(v);
        return v;
      }
    }
    return undefined;
  }

  /** Gives a value back. */
  release(v: number): void {
    this.used.delete(v);
  }

  /** True if taken. */
  has(v: number): boolean {
    return this.used.has(v);
  }
}

/** The service IP allocator: the network and broadcast addresses are never handed out. */
export function serviceIpAllocator(cidr: Cidr): RangeAllocator {
  return new RangeAllocator(cidr.base + 1, cidr.base + cidr.size - 2);
}

/** Default node port range, as upstream's --service-node-port-range. */
export const NODE_PORT_RANGE = { first: 30000, last: 32767 };
