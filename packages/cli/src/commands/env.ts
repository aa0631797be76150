import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import type { Argv } from 'yargs';
import type { StatusResult } from '@pipcache/shared';
import { call } from '../client.js';
import { paths } from '../context.js';
import { baseVars, planEnv, setVars } from '../setup/env-plan.js';
import { readPipConfig } from '../setup/pip-config.js';
import { parseShell, renderShell, SHELLS } from '../setup/shell.js';

export interface EnvArgs {
  json?: boolean;
  index?: boolean;
  shell?: string;
  uv?: boolean;
}

export function builder(y: Argv): Argv<EnvArgs> {
  return y
    .option('json', { type: 'boolean', default: false, describe: 'print the variables to set as JSON' })
    .option('index', { type: 'boolean', default: false, describe: 'use pipcache as an index (PIP_INDEX_URL) instead of a proxy' })
    .option('shell', { type: 'string', choices: [...SHELLS, 'pwsh'], default: 'sh', describe: 'syntax of the printed lines' })
    .option('uv', { type: 'boolean', describe: 'also print what uv needs (default: when uv is on PATH)' }) as Argv<EnvArgs>;
}

/** The variables a clean shell needs to send pip through the daemon (what `start` reports). */
export function envLines(st: StatusResult, bundle: string, index: boolean, token: string | null = null): { vars: Record<string, string> } {
  return { vars: baseVars(st, bundle, index, token) };
}

/** The token under the home, when the daemon requires one. */
export async function tokenFor(st: StatusResult, path: string): Promise<string | null> {
  return st.auth ? (await readFile(path, 'utf8')).trim() : null;
}

function onPath(command: string, env: NodeJS.ProcessEnv): boolean {
  return (env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && existsSync(join(dir, command)));
}

/**
 * Reads the caller's environment and pip's configuration and prints what
 * makes pip trust the bundle and reach the daemon in that shell: variables
 * that would override PIP_CERT or bypass the proxy are repointed or removed.
 */
export async function env(args: EnvArgs): Promise<{ result: unknown; text: string }> {
  const shell = parseShell(args.shell);
  const p = paths();
  const st = await call<StatusResult>(p.socket, 'status');
  const plan = await planEnv({
    status: st,
    bundle: p.bundle,
    token: await tokenFor(st, p.authToken),
    index: Boolean(args.index),
    uv: args.uv ?? onPath('uv', process.env),
    env: process.env,
    pipConfig: readPipConfig(process.env, process.env.VIRTUAL_ENV),
  });
  for (const note of plan.notes) process.stderr.write(`pipcache env: ${note}\n`);
  return { result: setVars(plan), text: renderShell(plan.actions, shell) };
}
