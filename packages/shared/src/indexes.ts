/*
 * The package indexes the daemon serves and caches: the `indexes` list of
 * the config, the default `pypi` index that `indexUpstream` defines, and an
 * index at `https://<host>/simple/` for every other intercepted host.
 */

/** Where the credentials for an index come from; never the config itself. */
export interface IndexCredentials {
  /** An environment variable of the daemon holding `user:password` or a token. */
  env?: string;
  /** The `machine` entry for the index host in `$NETRC` or `~/.netrc`. */
  netrc?: boolean;
}

/** One entry of the config's `indexes` list, as written. */
export interface IndexConfig {
  name: string;
  /** The simple repository root: pages are at `<url>/<project>/`. */
  url: string;
  /** Hosts that serve this index's files but not its pages (e.g. files.pythonhosted.org). */
  fileHosts?: string[];
  credentials?: IndexCredentials;
  /** Higher is preferred when several indexes list one filename (export, index mode). */
  priority?: number;
}

/** An index as the daemon uses it. */
export interface IndexSpec {
  name: string;
  /** The simple root, always ending in `/`. */
  root: string;
  /** What records of this index are scoped by (see `indexOrigin`). */
  origin: string;
  fileHosts: string[];
  credentials?: IndexCredentials;
  priority: number;
  /** Implied by `interceptHosts` rather than listed. */
  implicit: boolean;
}

/** The index `/simple/` serves in index mode, defined by `indexUpstream` unless listed. */
export const DEFAULT_INDEX_NAME = 'pypi';

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** First path segments of index mode that are not index names. */
const RESERVED_NAMES = new Set(['simple', 'files', '-']);
const HOST_RE = /^[A-Za-z0-9.-]+$/;
const ENV_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PYPI_FILE_HOSTS: Readonly<Record<string, readonly string[]>> = { 'pypi.org': ['files.pythonhosted.org'] };

/**
 * The origin records of an index are scoped by: its host (https) or URL
 * origin (http), followed by its root path unless that is `/simple/`. So
 * `https://pypi.org/simple/` stays `pypi.org`, as records have always named
 * it, and two indexes on one host under different paths never share records.
 */
export function indexOrigin(root: URL): string {
  const base = root.protocol === 'https:' ? root.host : root.origin;
  const path = root.pathname.replace(/\/+$/, '');
  return path === '/simple' || path === '' ? base : `${base}${path}`;
}

function spec(name: string, url: string, rest: Partial<IndexSpec> = {}): IndexSpec {
  const root = new URL(url.endsWith('/') ? url : `${url}/`);
  return { name, root: root.href, origin: indexOrigin(root), fileHosts: [], priority: 0, implicit: false, ...rest };
}

/**
 * Every index, most preferred first: by `priority` (higher first), ties in
 * the order default index, listed indexes, intercepted hosts.
 */
export function configuredIndexes(cfg: { indexes: IndexConfig[]; indexUpstream: string; interceptHosts: string[] }): IndexSpec[] {
  const out: IndexSpec[] = [];
  const listed = cfg.indexes.map((i) =>
    spec(i.name, i.url, {
      fileHosts: (i.fileHosts ?? []).map((h) => h.toLowerCase()),
      ...(i.credentials ? { credentials: i.credentials } : {}),
      priority: i.priority ?? 0,
    }),
  );
  if (!listed.some((i) => i.name === DEFAULT_INDEX_NAME)) {
    const host = new URL(cfg.indexUpstream).host.toLowerCase();
    out.push(spec(DEFAULT_INDEX_NAME, `${cfg.indexUpstream}/simple/`, { fileHosts: [...(PYPI_FILE_HOSTS[host] ?? [])] }));
  }
  out.push(...listed);
  for (const host of cfg.interceptHosts) {
    const known = out.some((i) => new URL(i.root).host === host || i.fileHosts.includes(host));
    if (!known) out.push(spec(host, `https://${host}/simple/`, { fileHosts: [...(PYPI_FILE_HOSTS[host] ?? [])], implicit: true }));
  }
  return out.map((i, n) => ({ i, n })).sort((a, b) => b.i.priority - a.i.priority || a.n - b.n).map(({ i }) => i);
}

/** The index `/simple/` serves in index mode. */
export function defaultIndex(indexes: readonly IndexSpec[]): IndexSpec {
  return (indexes.find((i) => i.name === DEFAULT_INDEX_NAME) ?? indexes[0]) as IndexSpec;
}

/**
 * Hosts whose TLS the proxy terminates: `interceptHosts`, and the host and
 * file hosts of every listed https index.
 */
export function interceptedHosts(cfg: { indexes: IndexConfig[]; interceptHosts: string[] }): string[] {
  const out = [...cfg.interceptHosts];
  for (const i of cfg.indexes) {
    const url = new URL(i.url);
    if (url.protocol === 'https:' && (url.port === '' || url.port === '443')) out.push(url.hostname.toLowerCase());
    for (const h of i.fileHosts ?? []) out.push(h.toLowerCase());
  }
  return [...new Set(out)];
}

/** The index whose root holds `url` (same origin, path under the root), the longest root first. */
export function indexUnder(indexes: readonly IndexSpec[], url: URL): IndexSpec | undefined {
  let best: IndexSpec | undefined;
  for (const i of indexes) {
    const root = new URL(i.root);
    if (root.origin !== url.origin || !url.pathname.startsWith(root.pathname)) continue;
    if (!best || root.pathname.length > new URL(best.root).pathname.length) best = i;
  }
  return best;
}

/**
 * The index whose pages list a file at `url`: the one whose root holds it,
 * else the one that names its host as a file host, else one on its host.
 */
export function indexOfFile(indexes: readonly IndexSpec[], url: URL): IndexSpec | undefined {
  const host = url.host.toLowerCase();
  return (
    indexUnder(indexes, url) ??
    indexes.find((i) => url.protocol === 'https:' && i.fileHosts.includes(host)) ??
    indexes.find((i) => new URL(i.root).origin === url.origin)
  );
}

/** The name an origin's records are shown under (export): its index's name, else the origin itself. */
export function indexNameOf(indexes: readonly IndexSpec[], origin: string): string {
  return indexes.find((i) => i.origin === origin)?.name ?? origin;
}

function checkCredentials(value: unknown, where: string, problems: string[]): IndexCredentials | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push(`${where}: expected {"env": "VARIABLE"} or {"netrc": true}`);
    return undefined;
  }
  const out: IndexCredentials = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === 'env' && typeof v === 'string' && ENV_RE.test(v)) out.env = v;
    else if (k === 'netrc' && typeof v === 'boolean') out.netrc = v;
    else problems.push(`${where}.${k}: expected "env": "VARIABLE" or "netrc": true`);
  }
  if (!out.env && !out.netrc) problems.push(`${where}: name an environment variable ("env") or set "netrc": true`);
  return out;
}

function checkUrl(value: unknown, where: string, problems: string[]): string | undefined {
  let url: URL | undefined;
  try {
    url = typeof value === 'string' ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.search || url.hash) {
    problems.push(`${where}: expected an index URL such as https://download.pytorch.org/whl/cu121`);
    return undefined;
  }
  if (url.username || url.password) {
    // A secret in the config would end up in status, logs and page records.
    problems.push(`${where}: credentials do not belong in the URL; use "credentials": {"env": "VARIABLE"} or {"netrc": true}`);
    return undefined;
  }
  return url.href.endsWith('/') ? url.href : `${url.href}/`;
}

/** Validates the config's `indexes` list; every problem is named. */
export function checkIndexes(value: unknown, problems: string[]): IndexConfig[] | undefined {
  if (!Array.isArray(value)) {
    problems.push('indexes: expected an array of {"name", "url"} objects');
    return undefined;
  }
  const out: IndexConfig[] = [];
  const before = problems.length;
  value.forEach((raw: unknown, n) => {
    const where = `indexes[${n}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      problems.push(`${where}: expected an object with "name" and "url"`);
      return;
    }
    const r = raw as Record<string, unknown>;
    const entry: Partial<IndexConfig> = {};
    for (const [k, v] of Object.entries(r)) {
      if (k === 'name') {
        if (typeof v === 'string' && NAME_RE.test(v) && !RESERVED_NAMES.has(v.toLowerCase())) entry.name = v;
        else problems.push(`${where}.name: expected a name of letters, digits, ".", "_" or "-" (not simple or files)`);
      } else if (k === 'url') {
        const url = checkUrl(v, `${where}.url`, problems);
        if (url) entry.url = url;
      } else if (k === 'fileHosts') {
        if (Array.isArray(v) && v.every((h) => typeof h === 'string' && HOST_RE.test(h))) entry.fileHosts = v.map((h: string) => h.toLowerCase());
        else problems.push(`${where}.fileHosts: expected an array of host names`);
      } else if (k === 'credentials') {
        const c = checkCredentials(v, `${where}.credentials`, problems);
        if (c) entry.credentials = c;
      } else if (k === 'priority') {
        if (typeof v === 'number' && Number.isInteger(v)) entry.priority = v;
        else problems.push(`${where}.priority: expected an integer (higher is preferred)`);
      } else problems.push(`${where}.${k}: unknown key`);
    }
    if (!('name' in r) || !('url' in r)) problems.push(`${where}: "name" and "url" are required`);
    if (entry.name && out.some((o) => o.name.toLowerCase() === entry.name?.toLowerCase())) problems.push(`${where}.name: ${entry.name} is listed twice`);
    if (entry.name && entry.url) out.push(entry as IndexConfig);
  });
  const origins = new Set<string>();
  for (const i of out) {
    const origin = indexOrigin(new URL(i.url));
    if (origins.has(origin)) problems.push(`indexes: two entries have the URL of ${origin}`);
    origins.add(origin);
  }
  return problems.length === before ? out : undefined;
}
