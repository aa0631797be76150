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

/** The variables a shell needs to send pip through the daemon. */
export function envLines(st: StatusResult, bundle: string, index: boolean): { vars: Record<string, string>; text: string } {
  const vars: Record<string, string> = index
    ? { PIP_INDEX_URL: `${st.address}/simple/` }
    : { HTTPS_PROXY: st.address, HTTP_PROXY: st.address, https_proxy: st.address, http_proxy: st.address, PIP_CERT: bundle };
  if (index && st.host !== '127.0.0.1' && st.host !== 'localhost' && st.host !== '::1') vars.PIP_TRUSTED_HOST = st.host;
  const text = Object.entries(vars)
    .map(([k, v]) => `export ${k}=${shellQuote(v)}`)
    .join('\n');
  return { vars, text };
}

export async function env(args: EnvArgs): Promise<{ result: unknown; text: string }> {
  const p = paths();
  const st = await call<StatusResult>(p.socket, 'status');
  const { vars, text } = envLines(st, p.bundle, Boolean(args.index));
  return { result: vars, text };
}
