/** Values of the config: sizes, networks, hosts and ports, and their checks. */
import { isIP } from 'node:net';

/** The default cap's share of the disk that holds the home, and its ceiling. */
export const DEFAULT_MAX_SIZE_SHARE = 0.1;
export const DEFAULT_MAX_SIZE_CEILING = 50 * 1024 ** 3;

/** The cap when none is configured: a tenth of the filesystem's size, at most 50 GiB. */
export function defaultMaxSize(filesystemBytes: number): number {
  return Math.min(DEFAULT_MAX_SIZE_CEILING, Math.floor(filesystemBytes * DEFAULT_MAX_SIZE_SHARE));
}

export const MAX_SIZE_PROBLEM = 'expected a size such as 20GiB or a byte count > 0';

/** A configured cap: null for the default; undefined (and a problem named) when it is not a size. */
export function checkMaxSize(value: unknown, where: string, problems: Problems): number | null | undefined {
  if (value === null) return null;
  const n = parseSize(value);
  if (n === null || n === 0) {
    problems.push(`${where}: ${MAX_SIZE_PROBLEM}, got ${JSON.stringify(value)}`);
    return undefined;
  }
  return n;
}

export const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

/** A byte count from a number or a human-readable size such as `"20GiB"`, `"500 MB"`; null when it is neither. */
export function parseSize(value: unknown): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : null;
  if (typeof value !== 'string') return null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  const unit = m ? SIZE_UNITS[(m[2] ?? '').toLowerCase()] : undefined;
  if (!m || unit === undefined) return null;
  const n = Math.floor(Number(m[1]) * unit);
  return Number.isSafeInteger(n) ? n : null;
}

/** `addr` or `addr/prefix`, IPv4 or IPv6. */
export function parseNetwork(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | null {
  const [address = '', prefixText, extra] = text.trim().split('/');
  const version = isIP(address);
  if (version === 0 || extra !== undefined) return null;
  const max = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix >= 0 && prefix <= max)) return null;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** True for the names and addresses of this machine's loopback interface. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || /^::ffff:127\./.test(h);
}

/** True when the allow list admits only loopback clients. */
export function allowsOnlyLoopback(allow: readonly string[]): boolean {
  return allow.every((n) => {
    const net = parseNetwork(n);
    return !!net && isLoopbackHost(net.address) && (net.family === 'ipv6' ? net.prefix === 128 : net.prefix >= 8);
  });
}

export type Problems = string[];

export const HOST_RE = /^[A-Za-z0-9.-]+$/;
export const HOSTPORT_RE = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

export function checkPort(value: unknown, where: string, problems: Problems): number | undefined {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 65535) {
    problems.push(`${where}: expected a port number 0-65535, got ${JSON.stringify(value)}`);
    return undefined;
  }
  return n;
}

/** Parses `a:443=b:8443,c:443=d:1` (PIPCACHE_RESOLVE) into a map. */
export function parseResolveList(text: string, where: string, problems: Problems): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of text.split(/[,\s]+/).filter(Boolean)) {
    const [from, to, extra] = item.split('=');
    if (!from || !to || extra !== undefined || !HOSTPORT_RE.test(from) || !HOSTPORT_RE.test(to)) {
      problems.push(`${where}: expected host:port=addr:port, got ${JSON.stringify(item)}`);
      continue;
    }
    out[from.toLowerCase()] = to;
  }
  return out;
}

export function checkResolve(value: unknown, problems: Problems): Record<string, string> | undefined {
  if (typeof value === 'string') return parseResolveList(value, 'resolve', problems);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push('resolve: expected an object of "host:port": "addr:port"');
    return undefined;
  }
  const out: Record<string, string> = {};
  for (const [from, to] of Object.entries(value)) {
    if (typeof to !== 'string' || !HOSTPORT_RE.test(from) || !HOSTPORT_RE.test(to)) {
      problems.push(`resolve.${from}: expected "host:port": "addr:port"`);
      continue;
    }
    out[from.toLowerCase()] = to;
  }
  return out;
}

export function checkSeconds(value: unknown, where: string, problems: Problems, nullable: boolean): number | null | undefined {
  if (value === null && nullable) return null;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    problems.push(`${where}: expected a number of seconds >= 0${nullable ? ' or null' : ''}`);
    return undefined;
  }
  return value;
}
