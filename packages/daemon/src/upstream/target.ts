/** Splits `host:port` / `[v6]:port`. */
export function splitHostPort(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text);
  if (!m) throw new Error(`bad host:port ${text}`);
  return { host: (m[1] ?? m[2]) as string, port: Number(m[3]) };
}

/** Where a connection to host:port really goes (the `resolve` override). */
export function resolveTarget(resolve: Record<string, string>, host: string, port: number): { host: string; port: number } {
  const override = resolve[`${host.toLowerCase()}:${port}`];
  return override ? splitHostPort(override) : { host, port };
}
