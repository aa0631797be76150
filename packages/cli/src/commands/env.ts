import { readFile } from 'node:fs/promises';
import type { Argv } from 'yargs';
import type { StatusResult } from '@pipcache/shared';
import { call } from '../client.js';
import { paths } from '../context.js';

export interface EnvArgs {
  json?: boolean;
  index?: boolean;
}

export function builder(y: Argv): Argv<EnvArgs> {
  return y
    .option('json', { type: 'boolean', default: false })
    .option('index', { type: 'boolean', default: false, describe: 'use pipcache as an index (PIP_INDEX_URL) instead of a proxy' }) as Argv<EnvArgs>;
}

function shellQuote(v: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`;
}

/** The daemon's address, carrying the token as basic-auth credentials when the daemon requires it. */
function withToken(address: string, token: string | null): string {
  if (token === null) return address;
  const u = new URL(address);
  u.username = 'pipcache';
  u.password = token;
  return u.href.replace(/\/$/, '');
}

/** The variables a shell needs to send pip through the daemon. */
export function envLines(st: StatusResult, bundle: string, index: boolean, token: string | null = null): { vars: Record<string, string>; text: string } {
  const address = withToken(st.address, st.auth ? token : null);
  const vars: Record<string, string> = index
    ? { PIP_INDEX_URL: `${address}/simple/` }
    : { HTTPS_PROXY: address, HTTP_PROXY: address, https_proxy: address, http_proxy: address, PIP_CERT: bundle };
  if (index && st.host !== '127.0.0.1' && st.host !== 'localhost' && st.host !== '::1') vars.PIP_TRUSTED_HOST = st.host;
  const text = Object.entries(vars)
    .map(([k, v]) => `export ${k}=${shellQuote(v)}`)
    .join('\n');
  return { vars, text };
}

/** The token under the home, when the daemon requires one. */
export async function tokenFor(st: StatusResult, path: string): Promise<string | null> {
  return st.auth ? (await readFile(path, 'utf8')).trim() : null;
}

export async function env(args: EnvArgs): Promise<{ result: unknown; text: string }> {
  const p = paths();
  const st = await call<StatusResult>(p.socket, 'status');
  const { vars, text } = envLines(st, p.bundle, Boolean(args.index), await tokenFor(st, p.authToken));
  return { result: vars, text };
}
