import { BlockList, isIP } from 'node:net';
import { isLoopbackHost, parseNetwork, parseProxyUrl, redactUrl, type Config } from '@pipcache/shared';

/** Which outbound proxy upstream requests use, decided from the config and the daemon's environment. */
export interface ProxyChoice {
  /** Proxy for https origins; null: direct. */
  https: URL | null;
  /** Proxy for plain-http origins (an index such as a parent daemon's `http://host:port/simple/`); null: direct. */
  http: URL | null;
  /** Hosts reached directly whatever the proxy. */
  noProxy: string[];
  /** What the log says once: the proxy in use and where it came from, and any proxy ignored and why. */
  notes: { level: 'info' | 'warn'; msg: string }[];
}

export const DIRECT: ProxyChoice = { https: null, http: null, noProxy: [], notes: [] };

export interface Listener {
  host: string;
  port: number;
  /** This machine's own addresses, for a listener on all interfaces (`0.0.0.0`, `::`). */
  localAddresses?: readonly string[];
}

const bare = (host: string): string => host.replace(/^\[|\]$/g, '').toLowerCase();

/**
 * True when a proxy at `url` is this daemon: the same host and port as its
 * listener, or any loopback address with its port (the shell that ran
 * `eval "$(pipcache env)"` has HTTPS_PROXY pointing here, and following it
 * would send every upstream request back into the daemon).
 */
export function pointsAtSelf(url: URL, self: Listener): boolean {
  const port = Number(url.port) || 80;
  if (port !== self.port) return false;
  const host = bare(url.hostname);
  const own = bare(self.host);
  if (isLoopbackHost(host) || host === own) return true;
  const wildcard = own === '0.0.0.0' || own === '::' || own === '';
  return wildcard && (self.localAddresses ?? []).some((a) => bare(a) === host);
}

/** NO_PROXY / no_proxy as a list (comma or space separated). */
export function splitNoProxy(text: string | undefined): string[] {
  return (text ?? '')
    .split(/[,\s]+/)
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
}

/**
 * The proxy for upstream requests: `upstreamProxy` from the config (with its
 * `noProxy`), else `https_proxy`/`HTTPS_PROXY` (and `http_proxy`/`HTTP_PROXY`
 * for plain-http origins) from the environment the daemon started in, with
 * `noProxy` plus `no_proxy`/`NO_PROXY`. A proxy that is this daemon is
 * ignored, and so is one that is not an `http://` URL; the notes say so.
 */
export function chooseUpstreamProxy(cfg: Config, env: NodeJS.ProcessEnv, self: Listener): ProxyChoice {
  const notes: ProxyChoice['notes'] = [];
  const usable = (text: string, source: string): URL | null => {
    const url = parseProxyUrl(text);
    if (!url) {
      notes.push({ level: 'warn', msg: `${source}=${redactUrl(text)} ignored: only http:// proxy URLs are supported` });
      return null;
    }
    if (pointsAtSelf(url, self)) {
      notes.push({ level: 'info', msg: `${source}=${redactUrl(url)} ignored: it points at this daemon (following it would loop)` });
      return null;
    }
    return url;
  };
  if (cfg.upstreamProxy) {
    const url = usable(cfg.upstreamProxy, 'upstreamProxy');
    if (url) notes.push({ level: 'info', msg: `upstream requests go through the proxy ${redactUrl(url)} (config upstreamProxy)` });
    return { https: url, http: url, noProxy: [...cfg.noProxy], notes };
  }
  const fromEnv = (names: string[]): URL | null => {
    const name = names.find((n) => env[n]);
    return name ? usable(env[name] as string, name) : null;
  };
  const https = fromEnv(['https_proxy', 'HTTPS_PROXY']);
  const http = fromEnv(['http_proxy', 'HTTP_PROXY']);
  if (https) notes.push({ level: 'info', msg: `upstream https requests go through the proxy ${redactUrl(https)} (HTTPS_PROXY in the daemon's environment)` });
  if (http) notes.push({ level: 'info', msg: `upstream http requests go through the proxy ${redactUrl(http)} (HTTP_PROXY in the daemon's environment)` });
  const noProxy = [...cfg.noProxy, ...splitNoProxy(env.no_proxy ?? env.NO_PROXY)];
  return { https, http, noProxy, notes };
}

/**
 * True when `url` is reached directly under `noProxy` (curl's rules, as pip
 * and requests apply them): `*` is everything; a name matches itself and the
 * names below it, with or without a leading dot; an address or network
 * matches IP literals in it; `:port` limits an entry to that port.
 */
export function bypassesProxy(url: URL, noProxy: readonly string[]): boolean {
  const host = bare(url.hostname);
  const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
  for (const raw of noProxy) {
    if (raw === '*') return true;
    const { host: entry, port: entryPort } = splitEntry(raw);
    if (entryPort !== null && entryPort !== port) continue;
    const net = parseNetwork(entry);
    if (net && isIP(host)) {
      const list = new BlockList();
      list.addSubnet(net.address, net.prefix, net.family);
      if (list.check(host, isIP(host) === 4 ? 'ipv4' : 'ipv6')) return true;
      continue;
    }
    const name = entry.replace(/^\*?\./, '');
    if (name && (host === name || host.endsWith(`.${name}`))) return true;
  }
  return false;
}

/** `host`, `host:port`, `[v6]:port`, `v6`, `net/prefix`: the host part and the port, if any. */
function splitEntry(raw: string): { host: string; port: number | null } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(raw);
  if (bracketed) return { host: bare(bracketed[1] as string), port: bracketed[2] ? Number(bracketed[2]) : null };
  if ((raw.match(/:/g) ?? []).length > 1) return { host: bare(raw), port: null };
  const [host = '', port] = raw.split(':');
  return { host: bare(host), port: port ? Number(port) : null };
}
