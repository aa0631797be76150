import { readFileSync } from 'node:fs';
import { PipcacheError } from './errors.js';
import { checkIndexes, type IndexConfig } from './indexes.js';
import { parseSharedConfig, type SharedConfig } from './shared-config.js';
import type { UpstreamMode } from './protocol.js';
import { isNoProxyEntry, parseIndexUpstream, parseProxyUrl, readCaFile, type UrlCredentials } from './upstream-config.js';
import { allowsOnlyLoopback, checkMaxSize, checkPort, checkResolve, checkSeconds, HOST_RE, isLoopbackHost, parseNetwork, parseResolveList, parseSize, type Problems } from './config-values.js';

/** The documented default proxy port. */
export const DEFAULT_PORT = 3143;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_INTERCEPT_HOSTS = ['pypi.org', 'files.pythonhosted.org'] as const;

export interface UpstreamTimeouts {
  connectMs: number;
  headersMs: number;
  bodyMs: number;
}

/** Bounds on what clients and upstream may make the daemon hold or keep open. */
export interface Limits {
  /** Largest index page accepted, counted after decompression (bytes). */
  pageBytes: number;
  /** Largest archive accepted when neither upstream nor the index gives its size (bytes). */
  unknownFileBytes: number;
  /** Client connections the listener holds open at once; more are refused. */
  connections: number;
  /** A client connection or tunnel with no traffic for this long is closed (ms). */
  idleMs: number;
  /** Largest archive fetched ahead when pip reads its `.metadata` (bytes); 0: never. */
  prefetchBytes: number;
}

/** How the daemon's log file is kept while the daemon runs. */
export interface LogRotation {
  /** The log is rotated before a line would take it past this size (bytes). */
  maxSize: number;
  /** Rotated generations kept (`daemon.log.1` newest ... `daemon.log.<keep>` oldest). */
  keep: number;
}

/** More generations than this is a typo, not a log policy. */
export const MAX_LOG_GENERATIONS = 100;

export interface Config {
  port: number;
  host: string;
  /** Hosts whose HTTPS traffic is intercepted and cached. */
  interceptHosts: string[];
  /** `host:port` -> `addr:port`: where an upstream connection really goes. */
  resolve: Record<string, string>;
  /** Seconds a page stays fresh when upstream gives no max-age. */
  defaultPageMaxAge: number;
  /** When set, overrides upstream max-age for pages. */
  pageMaxAge: number | null;
  /**
   * The initial upstream mode: false (online), true (offline: no outbound
   * traffic at all) or "team" (team-only: the team store in `shared`, never
   * an index). `pipcache offline` wins once used.
   */
  offline: boolean | 'team';
  /** The upstream index that index mode (`http://127.0.0.1:PORT/simple/`) fronts. */
  indexUpstream: string;
  /** More indexes (each served in index mode at `/<name>/simple/`); see indexes.ts. */
  indexes: IndexConfig[];
  /** Credentials given in the `indexUpstream` URL, kept apart from it (sent as basic auth to that origin only). */
  indexCredentials: UrlCredentials | null;
  /**
   * PEP 658 metadata on served pages: 'always' as upstream offers it, or
   * 'uncached' to leave it off for wheels already on disk (pip then fetches
   * the wheel once, at disk speed, instead of metadata and wheel).
   */
  coreMetadata: 'always' | 'uncached';
  upstream: UpstreamTimeouts;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  log: LogRotation;
  /** Client networks (CIDR or address) the daemon answers; default loopback only. */
  allow: string[];
  /** Clients must present the token under the home (Proxy-Authorization / basic auth). */
  auth: boolean;
  /**
   * Private hosts or networks that tunnels and forwards may reach when the
   * daemon accepts clients beyond loopback (which otherwise never reach
   * loopback, link-local or private addresses).
   */
  upstreamAllow: string[];
  limits: Limits;
  /**
   * Outbound proxy for upstream requests, `http://[user:pass@]host:port`;
   * null: HTTPS_PROXY / HTTP_PROXY from the daemon's environment, if any.
   */
  upstreamProxy: string | null;
  /** Hosts reached without the upstream proxy (like NO_PROXY: names, `.suffix`, addresses, networks, `*`). */
  noProxy: string[];
  /** PEM file whose certificates upstream TLS trusts too (a TLS-intercepting proxy, a parent daemon's CA). */
  caFile: string | null;
  /**
   * Bytes the stored archives and `.metadata` files may take before the
   * least recently served are evicted; null: a share of the disk holding the
   * home, decided by the daemon at start (see `defaultMaxSize`).
   */
  maxSize: number | null;
  /** The team tier (a shared bucket of verified blobs); null: none. */
  shared: SharedConfig | null;
}

/** Loopback only: the default `allow`. */
export const LOOPBACK_NETWORKS = ['127.0.0.0/8', '::1/128'] as const;

export const DEFAULT_CONFIG: Config = {
  port: DEFAULT_PORT,
  host: DEFAULT_HOST,
  interceptHosts: [...DEFAULT_INTERCEPT_HOSTS],
  resolve: {},
  defaultPageMaxAge: 600,
  pageMaxAge: null,
  offline: false,
  indexUpstream: 'https://pypi.org',
  indexes: [],
  indexCredentials: null,
  coreMetadata: 'always',
  upstream: { connectMs: 10_000, headersMs: 30_000, bodyMs: 30_000 },
  logLevel: 'info',
  log: { maxSize: 10 * 1024 ** 2, keep: 5 },
  allow: [...LOOPBACK_NETWORKS],
  auth: false,
  upstreamAllow: [],
  limits: { pageBytes: 128 * 1024 ** 2, unknownFileBytes: 8 * 1024 ** 3, connections: 4096, idleMs: 300_000, prefetchBytes: 256 * 1024 ** 2 },
  upstreamProxy: null,
  noProxy: [],
  caFile: null,
  maxSize: null,
  shared: null,
};

/**
 * Validates a config object (from the file) merged over the defaults.
 * Every problem is named; one bad key rejects the whole file.
 */
export function validateConfig(raw: unknown, source: string): Config {
  const problems: Problems = [];
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new PipcacheError('E_CONFIG_INVALID', `${source}: expected a JSON object`);
  }
  const cfg: Config = structuredClone(DEFAULT_CONFIG);
  for (const [key, value] of Object.entries(raw)) {
    switch (key) {
      case 'port': {
        const p = checkPort(value, key, problems);
        if (p !== undefined) cfg.port = p;
        break;
      }
      case 'host':
        if (typeof value === 'string' && value.length > 0) cfg.host = value;
        else problems.push('host: expected an address string');
        break;
      case 'interceptHosts':
        if (Array.isArray(value) && value.every((h) => typeof h === 'string' && HOST_RE.test(h))) {
          cfg.interceptHosts = value.map((h: string) => h.toLowerCase());
        } else problems.push('interceptHosts: expected an array of host names');
        break;
      case 'resolve': {
        const r = checkResolve(value, problems);
        if (r) cfg.resolve = r;
        break;
      }
      case 'defaultPageMaxAge': {
        const s = checkSeconds(value, key, problems, false);
        if (typeof s === 'number') cfg.defaultPageMaxAge = s;
        break;
      }
      case 'pageMaxAge': {
        const s = checkSeconds(value, key, problems, true);
        if (s !== undefined) cfg.pageMaxAge = s;
        break;
      }
      case 'offline':
        if (typeof value === 'boolean' || value === 'team') cfg.offline = value;
        else problems.push('offline: expected true, false or "team"');
        break;
      case 'indexUpstream': {
        const index = typeof value === 'string' ? parseIndexUpstream(value) : null;
        if (index) {
          cfg.indexUpstream = index.origin;
          cfg.indexCredentials = index.credentials;
        } else problems.push('indexUpstream: expected an origin such as https://pypi.org (or http://user:token@host:port/simple/)');
        break;
      }
      case 'upstreamProxy':
        if (value === null) cfg.upstreamProxy = null;
        else if (typeof value === 'string' && parseProxyUrl(value)) cfg.upstreamProxy = value;
        else problems.push('upstreamProxy: expected null or an http proxy URL such as http://user:pass@proxy.example:3128');
        break;
      case 'noProxy':
        if (Array.isArray(value) && value.every(isNoProxyEntry)) cfg.noProxy = (value as string[]).map((n) => n.toLowerCase());
        else problems.push('noProxy: expected an array of host names, .suffixes, addresses or networks');
        break;
      case 'caFile':
        if (value === null) cfg.caFile = null;
        else if (typeof value !== 'string') problems.push('caFile: expected the absolute path of a PEM file');
        else {
          try {
            readCaFile(value);
            cfg.caFile = value;
          } catch (err) {
            problems.push((err as Error).message);
          }
        }
        break;
      case 'indexes': {
        const list = checkIndexes(value, problems);
        if (list) cfg.indexes = list;
        break;
      }
      case 'coreMetadata':
        if (value === 'always' || value === 'uncached') cfg.coreMetadata = value;
        else problems.push('coreMetadata: expected "always" or "uncached"');
        break;
      case 'upstream':
        if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
          for (const [k, v] of Object.entries(value)) {
            if (!(k in cfg.upstream)) problems.push(`upstream.${k}: unknown key`);
            else if (typeof v !== 'number' || v <= 0) problems.push(`upstream.${k}: expected milliseconds > 0`);
            else cfg.upstream[k as keyof UpstreamTimeouts] = v;
          }
        } else problems.push('upstream: expected an object');
        break;
      case 'logLevel':
        if (typeof value === 'string' && ['trace', 'debug', 'info', 'warn', 'error'].includes(value)) {
          cfg.logLevel = value as Config['logLevel'];
        } else problems.push('logLevel: expected trace, debug, info, warn or error');
        break;
      case 'log':
        if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
          for (const [k, v] of Object.entries(value)) {
            if (k === 'maxSize') {
              const n = parseSize(v);
              if (n === null || n === 0) problems.push('log.maxSize: expected a size such as 10MiB or a byte count > 0');
              else cfg.log.maxSize = n;
            } else if (k === 'keep') {
              if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_LOG_GENERATIONS) {
                problems.push(`log.keep: expected an integer from 1 to ${MAX_LOG_GENERATIONS}`);
              } else cfg.log.keep = v;
            } else problems.push(`log.${k}: unknown key`);
          }
        } else problems.push('log: expected an object such as {"maxSize": "10MiB", "keep": 5}');
        break;
      case 'allow':
        if (Array.isArray(value) && value.length > 0 && value.every((n) => typeof n === 'string' && parseNetwork(n))) cfg.allow = value as string[];
        else problems.push('allow: expected a non-empty array of client networks such as "127.0.0.1/32" or "10.0.0.0/8"');
        break;
      case 'auth':
        if (typeof value === 'boolean') cfg.auth = value;
        else problems.push('auth: expected true or false');
        break;
      case 'upstreamAllow':
        if (Array.isArray(value) && value.every((n) => typeof n === 'string' && (parseNetwork(n) || HOST_RE.test(n)))) {
          cfg.upstreamAllow = (value as string[]).map((n) => n.toLowerCase());
        } else problems.push('upstreamAllow: expected an array of host names or networks such as "10.0.0.0/8"');
        break;
      case 'limits':
        if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
          for (const [k, v] of Object.entries(value)) {
            if (k === 'pageBytes' || k === 'unknownFileBytes') {
              const n = parseSize(v);
              if (n === null || n === 0) problems.push(`limits.${k}: expected a size such as 64MiB or a byte count > 0`);
              else cfg.limits[k] = n;
            } else if (k === 'prefetchBytes') {
              const n = parseSize(v);
              if (n === null) problems.push(`limits.${k}: expected a size such as 256MiB, or 0 to fetch nothing ahead`);
              else cfg.limits[k] = n;
            } else if (k === 'connections' || k === 'idleMs') {
              if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) problems.push(`limits.${k}: expected an integer > 0`);
              else cfg.limits[k] = v;
            } else problems.push(`limits.${k}: unknown key`);
          }
        } else problems.push('limits: expected an object');
        break;
      case 'maxSize': {
        const n = checkMaxSize(value, key, problems);
        if (n !== undefined) cfg.maxSize = n;
        break;
      }
      case 'shared': {
        const shared = parseSharedConfig(value, problems);
        if (shared !== undefined) cfg.shared = shared;
        break;
      }
      default:
        problems.push(`${key}: unknown key`);
    }
  }
  if (cfg.offline === 'team' && cfg.shared === null) problems.push('offline: "team" reads the team store only, and `shared` names none');
  // With a token required and no networks named, anyone holding the token may connect.
  if (cfg.auth && !('allow' in raw)) cfg.allow = ['0.0.0.0/0', '::/0'];
  if (problems.length > 0) {
    throw new PipcacheError('E_CONFIG_INVALID', `${source}: ${problems.join('; ')}`);
  }
  return cfg;
}

/** The upstream mode a config's `offline` value stands for. */
export function configuredMode(offline: Config['offline']): UpstreamMode {
  return offline === 'team' ? 'team' : offline ? 'offline' : 'online';
}

/** Reads the config file (absent = defaults), then applies PIPCACHE_* env overrides. */
export function loadConfig(file: string, env: NodeJS.ProcessEnv): Config {
  let raw: unknown = {};
  let text: string | undefined;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new PipcacheError('E_CONFIG_INVALID', `${file}: ${(err as Error).message}`, { cause: err });
    }
  }
  if (text !== undefined) {
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new PipcacheError('E_CONFIG_INVALID', `${file}: not valid JSON (${(err as Error).message})`, { cause: err });
    }
  }
  const cfg = validateConfig(raw, file);
  return applyEnv(cfg, env);
}

export function applyEnv(cfg: Config, env: NodeJS.ProcessEnv): Config {
  const problems: Problems = [];
  const out = structuredClone(cfg);
  if (env.PIPCACHE_PORT) {
    const p = checkPort(env.PIPCACHE_PORT, 'PIPCACHE_PORT', problems);
    if (p !== undefined) out.port = p;
  }
  if (env.PIPCACHE_HOST) out.host = env.PIPCACHE_HOST;
  if (env.PIPCACHE_MAX_SIZE) {
    const n = checkMaxSize(env.PIPCACHE_MAX_SIZE, 'PIPCACHE_MAX_SIZE', problems);
    if (n !== undefined) out.maxSize = n;
  }
  if (env.PIPCACHE_RESOLVE) Object.assign(out.resolve, parseResolveList(env.PIPCACHE_RESOLVE, 'PIPCACHE_RESOLVE', problems));
  if (env.PIPCACHE_INTERCEPT) {
    out.interceptHosts = env.PIPCACHE_INTERCEPT.split(/[,\s]+/).filter(Boolean).map((h) => h.toLowerCase());
  }
  if (problems.length > 0) throw new PipcacheError('E_CONFIG_INVALID', problems.join('; '));
  if (!isLoopbackHost(out.host) && !out.auth && allowsOnlyLoopback(out.allow)) {
    throw new PipcacheError(
      'E_CONFIG_INVALID',
      `host ${out.host} is not a loopback address: name the client networks that may use the daemon in \`allow\` (e.g. ["10.0.0.0/8"]), or set \`auth: true\` to require the token`,
    );
  }
  return Object.freeze(out) as Config;
}
