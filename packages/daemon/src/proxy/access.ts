import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';
import { parseNetwork, PipcacheError, type Config } from '@pipcache/shared';

/**
 * Who may use the daemon: clients from the `allow` networks, and, with
 * `auth`, only those presenting the token kept under the home (as the
 * password of `Proxy-Authorization: Basic` for the proxy, or of
 * `Authorization: Basic` for index mode, where pip takes it from the index
 * URL). The token is compared in constant time.
 */
export class ClientAccess {
  private built: { allow: readonly string[]; list: BlockList } | undefined;

  constructor(
    private readonly config: () => Config,
    private readonly token: string,
  ) {}

  /** Reads the token under the home, creating it (mode 0600) on first use. */
  static async loadToken(path: string): Promise<string> {
    const existing = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
    if (existing !== null && /^[0-9a-f]{32,}$/.test(existing.trim())) {
      await chmod(path, 0o600);
      return existing.trim();
    }
    const token = randomBytes(24).toString('hex');
    await writeFile(path, `${token}\n`, { mode: 0o600 });
    await chmod(path, 0o600);
    return token;
  }

  /** Throws E_CLIENT_REFUSED for a peer outside `allow`. */
  checkClient(remoteAddress: string | undefined): void {
    const addr = unmapV4(remoteAddress ?? '');
    const family = isIP(addr);
    if (family !== 0 && this.allowList().check(addr, family === 4 ? 'ipv4' : 'ipv6')) return;
    throw new PipcacheError('E_CLIENT_REFUSED', `client ${remoteAddress ?? 'unknown'} is not in the allowed networks`);
  }

  /** Throws E_AUTH_REQUIRED unless auth is off or the header carries the token. */
  checkCredentials(req: IncomingMessage, header: 'proxy-authorization' | 'authorization'): void {
    if (!this.config().auth) return;
    const password = basicPassword(req.headers[header]);
    const expected = Buffer.from(this.token);
    if (password !== null) {
      const given = Buffer.from(password);
      if (given.length === expected.length && timingSafeEqual(given, expected)) return;
    }
    throw new PipcacheError('E_AUTH_REQUIRED', password === null ? 'credentials required' : 'wrong credentials');
  }

  private allowList(): BlockList {
    const { allow } = this.config();
    if (this.built?.allow !== allow) {
      const list = new BlockList();
      for (const n of allow) {
        const net = parseNetwork(n);
        if (net) list.addSubnet(net.address, net.prefix, net.family);
      }
      this.built = { allow, list };
    }
    return this.built.list;
  }
}

/** `::ffff:10.0.0.1` -> `10.0.0.1`: IPv4 peers on a dual-stack socket. */
export function unmapV4(addr: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  return m?.[1] ?? addr;
}

function basicPassword(value: string | string[] | undefined): string | null {
  const v = Array.isArray(value) ? value[0] : value;
  const m = v ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(v) : null;
  if (!m?.[1]) return null;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? null : decoded.slice(colon + 1);
}
