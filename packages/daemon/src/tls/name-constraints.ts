import { isIP } from 'node:net';
import { PipcacheError } from '@pipcache/shared';

/** id-ce-nameConstraints (RFC 5280 4.2.1.10). */
export const NAME_CONSTRAINTS_OID = '2.5.29.30';

/** Lowercased, deduplicated and sorted: the canonical form of the hosts a CA may sign for. */
export function canonicalHosts(hosts: readonly string[]): string[] {
  return [...new Set(hosts.map((h) => h.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1')).filter(Boolean))].sort();
}

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
}

const SEQUENCE = 0x30;
/** GeneralName choices, IMPLICIT context tags: dNSName [2] IA5String, iPAddress [7] OCTET STRING. */
const DNS_NAME = 0x82;
const IP_ADDRESS = 0x87;
/** NameConstraints fields: permittedSubtrees [0], excludedSubtrees [1] (constructed). */
const PERMITTED = 0xa0;
const EXCLUDED = 0xa1;

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  // IPv6: expand `::`, then 8 groups of 16 bits.
  const [head = '', tail] = ip.split('::');
  const parts = (s: string): string[] => (s ? s.split(':') : []);
  const groups = tail === undefined ? parts(head) : [...parts(head), ...Array<string>(8 - parts(head).length - parts(tail).length).fill('0'), ...parts(tail)];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

function subtree(name: Buffer): Buffer {
  return tlv(SEQUENCE, name);
}

/**
 * The DER value of a NameConstraints extension that lets a CA sign only for
 * `hosts`: each name is a permitted dNSName subtree (RFC 5280: the name and
 * names below it), each IP literal a permitted iPAddress with a full mask.
 * A name form with nothing permitted is excluded outright (every IPv4 and
 * IPv6 address; dNSName "" matches every name), since a form left without
 * constraints would be unconstrained. Deterministic for a canonical list,
 * so a CA's constraints can be compared byte for byte.
 */
export function encodeNameConstraints(hosts: readonly string[]): Buffer {
  const permitted: Buffer[] = [];
  const excluded: Buffer[] = [];
  const canonical = canonicalHosts(hosts);
  for (const host of canonical) {
    if (isIP(host)) {
      const addr = ipBytes(host);
      permitted.push(subtree(tlv(IP_ADDRESS, Buffer.concat([addr, Buffer.alloc(addr.length, 0xff)]))));
    } else if (/^[a-z0-9.-]+$/.test(host)) {
      permitted.push(subtree(tlv(DNS_NAME, Buffer.from(host, 'ascii'))));
    } else {
      throw new PipcacheError('E_CONFIG_INVALID', `interceptHosts: ${JSON.stringify(host)} is not an ASCII host name (use its punycode form) or an IP address`);
    }
  }
  if (!canonical.some((h) => isIP(h))) {
    excluded.push(subtree(tlv(IP_ADDRESS, Buffer.alloc(8))), subtree(tlv(IP_ADDRESS, Buffer.alloc(32))));
  }
  if (!canonical.some((h) => !isIP(h))) excluded.push(subtree(tlv(DNS_NAME, Buffer.alloc(0))));
  const fields: Buffer[] = [];
  if (permitted.length > 0) fields.push(tlv(PERMITTED, Buffer.concat(permitted)));
  if (excluded.length > 0) fields.push(tlv(EXCLUDED, Buffer.concat(excluded)));
  return tlv(SEQUENCE, Buffer.concat(fields));
}
