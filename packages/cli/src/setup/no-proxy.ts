/**
 * NO_PROXY as pip's requests and urllib read it: a comma list where `*`
 * matches everything and an entry matches any host that ends with it
 * (requests compares bare string suffixes, so `org` and `.org` both cover
 * pypi.org). `*.org` is not special to Python but is to other clients: it is
 * read as `.org`.
 */

function entries(value: string): string[] {
  return value
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
}

export function entryBypasses(entry: string, host: string): boolean {
  const e = entry.trim().toLowerCase();
  if (e === '') return false;
  if (e === '*') return true;
  const h = host.toLowerCase();
  if (h.endsWith(e) || `${h}:443`.endsWith(e)) return true;
  const bare = e.replace(/^\*?\.+/, '');
  return bare !== '' && (h === bare || h.endsWith(`.${bare}`));
}

/** The entries of `value` that send any of `hosts` around the proxy. */
export function bypassingEntries(value: string, hosts: readonly string[]): string[] {
  return entries(value).filter((e) => hosts.some((h) => entryBypasses(e, h)));
}

/** `value` without the entries that bypass `hosts`, joined as it was. */
export function withoutBypasses(value: string, hosts: readonly string[]): string {
  return entries(value)
    .filter((e) => !hosts.some((h) => entryBypasses(e, h)))
    .join(',');
}

/**
 * The no-proxy value requests uses: lower-case `no_proxy` first, then
 * `NO_PROXY` (an empty value counts as unset).
 */
export function effectiveNoProxy(env: NodeJS.ProcessEnv): { name: string; value: string } | null {
  for (const name of ['no_proxy', 'NO_PROXY']) {
    const value = env[name];
    if (value) return { name, value };
  }
  return null;
}

/**
 * The proxy urllib's getproxies() gives for `scheme`: the lower-case
 * variable wins (an empty one removes it), then the upper-case one, then
 * all_proxy.
 */
export function envProxy(env: NodeJS.ProcessEnv, scheme: 'https' | 'http'): { name: string; value: string } | null {
  for (const base of [scheme, 'all']) {
    const lower = `${base}_proxy`;
    if (lower in env) {
      const value = env[lower];
      if (value) return { name: lower, value };
      continue;
    }
    const upper = lower.toUpperCase();
    const value = env[upper];
    if (value) return { name: upper, value };
  }
  return null;
}
