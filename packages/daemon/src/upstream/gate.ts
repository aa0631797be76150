import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import {
  allowsOnlyLoopback,
  configuredIndexes,
  indexUnder,
  interceptedHosts,
  isLoopbackHost,
  parseNetwork,
  PipcacheError,
  type Config,
  type IndexSpec,
} from '@pipcache/shared';
import type { UpstreamCredentials } from './credentials.js';
import { resolveTarget } from './target.js';

/** What an outbound connection is for; each kind has one HTTP answer per refusal (see `refusalStatus`). */
export type Outbound = 'page' | 'file' | 'tunnel' | 'forward';

/** Loopback, private, link-local, shared, reserved and multicast space: never reached for a remote client unless allowed. */
const INTERNAL = (() => {
  const list = new BlockList();
  for (const [net, prefix] of [
    ['0.0.0.0', 8],
    ['10.0.0.0', 8],
    ['100.64.0.0', 10],
    ['127.0.0.0', 8],
    ['169.254.0.0', 16],
    ['172.16.0.0', 12],
    ['192.0.0.0', 24],
    ['192.168.0.0', 16],
    ['198.18.0.0', 15],
    ['224.0.0.0', 4],
    ['240.0.0.0', 4],
  ] as const) {
    list.addSubnet(net, prefix, 'ipv4');
  }
  for (const [net, prefix] of [
    ['::', 128],
    ['::1', 128],
    ['::ffff:0:0', 96],
    ['64:ff9b::', 96],
    ['fc00::', 7],
    ['fe80::', 10],
    ['ff00::', 8],
  ] as const) {
    list.addSubnet(net, prefix, 'ipv6');
  }
  return list;
})();

export function isInternalAddress(addr: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  const a = mapped?.[1] ?? addr;
  const family = isIP(a);
  return family === 0 || INTERNAL.check(a, family === 4 ? 'ipv4' : 'ipv6');
}

export interface GateDeps {
  config: () => Config;
  offline: () => boolean;
  /** Team-only mode: pages and files come from the team store, never from an index. */
  teamOnly?: () => boolean;
  /** Whether a team store is configured (team-only without one is as offline). */
  hasTeamStore?: () => boolean;
  /** The secrets of indexes that need them; none when absent. */
  credentials?: UpstreamCredentials;
}

/**
 * The one place that decides whether pipcache may open an outbound
 * connection. Every upstream request (pages, files, pass-through) and every
 * tunnel and forward asks it first.
 *
 * - Offline: nothing goes out (E_OFFLINE_MISS).
 * - Team-only: pages and files may still be had (from the team store, which
 *   is no index and not asked here), but no request to an index, no tunnel
 *   and no forward goes out (E_TEAM_MISS).
 * - Pages and files: only the configured indexes, over https (the intercepted
 *   hosts, and every index root as configured); anything else is E_FORBIDDEN,
 *   so nothing from another host can enter the cache.
 * - Tunnels and forwards: anywhere a loopback-only daemon's user could
 *   connect anyway. When the daemon accepts clients beyond loopback, never to
 *   loopback, private, link-local or other internal addresses (IP literals
 *   or names that resolve to them), except the configured indexes, `resolve`
 *   overrides and `upstreamAllow`. The address that was checked is the one
 *   connected to, so a name cannot change its answer in between.
 */
export class UpstreamGate {
  private known: { config: Config; indexes: IndexSpec[]; hosts: Set<string> } | undefined;

  constructor(private readonly deps: GateDeps) {}

  private current(): { indexes: IndexSpec[]; hosts: Set<string> } {
    const config = this.deps.config();
    if (this.known?.config !== config) this.known = { config, indexes: configuredIndexes(config), hosts: new Set(interceptedHosts(config)) };
    return this.known;
  }

  /** Every configured index, most preferred first (see `configuredIndexes`). */
  indexes(): IndexSpec[] {
    return this.current().indexes;
  }

  /** Host names whose pages and files may be fetched and cached. */
  indexHosts(): Set<string> {
    const { indexes, hosts } = this.current();
    return new Set([...hosts, ...indexes.flatMap((i) => [new URL(i.root).hostname.toLowerCase(), ...i.fileHosts])]);
  }

  /**
   * The order in which indexes are preferred when several list the same
   * filename (export, index mode): by priority, then the index that index
   * mode fronts (imports are recorded under it too), the listed indexes and
   * the intercepted hosts in config order.
   */
  originOrder(): string[] {
    return [...new Set(this.indexes().map((i) => i.origin))];
  }

  /** True when `url` is on a configured index: an intercepted host over https, or an index's root origin as configured. */
  isIndexUrl(url: URL): boolean {
    const { indexes, hosts } = this.current();
    if (indexes.some((i) => new URL(i.root).origin === url.origin)) return true;
    return url.protocol === 'https:' && (url.port === '' || url.port === '443') && hosts.has(url.hostname.toLowerCase());
  }

  /**
   * Headers that a request to `url` carries upstream: the Authorization of
   * the index it belongs to (same origin, the longest root holding it
   * first), never sent to any other host.
   */
  upstreamHeaders(url: URL): Record<string, string> {
    const { credentials } = this.deps;
    if (!credentials) return {};
    const indexes = this.indexes();
    const index = indexUnder(indexes, url) ?? indexes.find((i) => i.credentials && new URL(i.root).origin === url.origin);
    const authorization = index && credentials.authorization(index);
    return authorization ? { authorization } : {};
  }

  /** Team-only mode: the team store answers misses, no index does. */
  teamOnly(): boolean {
    return !this.deps.offline() && (this.deps.teamOnly?.() ?? false);
  }

  /**
   * Why the page or file at `url` may not be fetched at all (offline, not a
   * configured index, team-only with no team store); null when it may be:
   * from the index, or in team-only mode from the team store.
   */
  refusal(kind: 'page' | 'file', url: URL): PipcacheError | null {
    if (this.deps.offline()) return new PipcacheError('E_OFFLINE_MISS', `offline: not fetching ${url.host}${url.pathname}`);
    if (!this.isIndexUrl(url)) return new PipcacheError('E_FORBIDDEN', `${kind} from ${url.origin} refused: not a configured index`);
    if (this.teamOnly() && !(this.deps.hasTeamStore?.() ?? false)) {
      return new PipcacheError('E_TEAM_MISS', `team-only, and no team store is configured (shared): not fetching ${url.host}${url.pathname}`);
    }
    return null;
  }

  /** Throws unless the page or file at `url` may be fetched (see `refusal`). */
  checkFetch(kind: 'page' | 'file', url: URL): void {
    const refused = this.refusal(kind, url);
    if (refused) throw refused;
  }

  /**
   * Throws unless a request to the index at `url` may go out: what
   * `checkFetch` allows, except in team-only mode, which asks no index. The
   * upstream client asks this before every request.
   */
  checkOutbound(kind: 'page' | 'file', url: URL): void {
    this.checkFetch(kind, url);
    if (this.teamOnly()) {
      throw new PipcacheError('E_TEAM_MISS', `team-only: ${url.host}${url.pathname} did not come from the team store (absent, refused or unreachable), and no index is asked`);
    }
  }

  /**
   * Throws unless a tunnel or forward to host:port may go out; returns where
   * to connect (the `resolve` override, or the checked address). `viaProxy`:
   * it goes through the outbound proxy, which resolves names itself (a
   * network whose own DNS knows only internal names); a name is then passed
   * on as it is, and only an address literal or a loopback name is checked here.
   */
  async checkConnect(kind: 'tunnel' | 'forward', host: string, port: number, viaProxy = false): Promise<{ host: string; port: number }> {
    if (this.deps.offline()) throw new PipcacheError('E_OFFLINE_MISS', `offline: no ${kind} to ${host}:${port}`);
    if (this.teamOnly()) throw new PipcacheError('E_TEAM_MISS', `team-only: no ${kind} to ${host}:${port}`);
    if (kind === 'tunnel' && port !== 443) throw new PipcacheError('E_FORBIDDEN', `tunnel to ${host}:${port} refused: only port 443 is tunnelled`);
    const cfg = this.deps.config();
    const name = host.toLowerCase();
    if (cfg.resolve[`${name}:${port}`]) return resolveTarget(cfg.resolve, name, port);
    if (allowsOnlyLoopback(cfg.allow) || this.indexHosts().has(name) || this.explicitlyAllowed(name)) return { host, port };
    if (viaProxy && isIP(name) === 0) {
      // The proxy's own loopback is as internal as ours.
      if (isLoopbackHost(name) || name.endsWith('.localhost')) {
        throw new PipcacheError('E_FORBIDDEN', `${kind} to ${host}:${port} refused: a loopback name (add it to upstreamAllow to permit it)`);
      }
      return { host, port };
    }
    const addresses = isIP(name) ? [name] : await resolveAll(name);
    const internal = addresses.find((a) => isInternalAddress(a) && !this.explicitlyAllowed(a));
    if (internal !== undefined) {
      throw new PipcacheError('E_FORBIDDEN', `${kind} to ${host}:${port} refused: ${internal} is an internal address (add it to upstreamAllow to permit it)`);
    }
    return { host: addresses[0] as string, port };
  }

  private explicitlyAllowed(hostOrAddr: string): boolean {
    const family = isIP(hostOrAddr);
    for (const entry of this.deps.config().upstreamAllow) {
      if (entry === hostOrAddr) return true;
      const net = parseNetwork(entry);
      if (net && family !== 0) {
        const list = new BlockList();
        list.addSubnet(net.address, net.prefix, net.family);
        if (list.check(hostOrAddr, family === 4 ? 'ipv4' : 'ipv6')) return true;
      }
    }
    return false;
  }
}

async function resolveAll(name: string): Promise<string[]> {
  try {
    const found = await lookup(name, { all: true, verbatim: true });
    if (found.length > 0) return found.map((a) => a.address);
  } catch (err) {
    throw new PipcacheError('E_UPSTREAM', `cannot resolve ${name}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  throw new PipcacheError('E_UPSTREAM', `cannot resolve ${name}`);
}

/**
 * The HTTP status for a refused outbound request, by kind: pip reads a page
 * 404 as "no such project", a file 503 as retryable, and a refused tunnel or
 * forward as 403.
 */
export function refusalStatus(kind: Outbound, err: PipcacheError): number {
  if (err.code === 'E_OFFLINE_MISS' || err.code === 'E_TEAM_MISS') return kind === 'page' ? 404 : kind === 'file' ? 503 : 403;
  return err.httpStatus;
}
