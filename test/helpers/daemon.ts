import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, type RunResult } from './proc.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
export const CLI = join(ROOT, 'packages/cli/dist/main.js');

export interface LogLine {
  level: number;
  msg: string;
  method?: string;
  host?: string;
  path?: string;
  cache?: string;
  status?: number;
  bytes?: number;
  reason?: string;
  [key: string]: unknown;
}

export interface TestDaemon {
  home: string;
  /** The variables `pipcache env --json` printed: all a pip run gets. */
  pipEnv: Record<string, string>;
  address: string;
  /** Runs the CLI against this daemon; `opts` adds a working directory or variables. */
  cli(args: string[], timeoutMs?: number, opts?: { cwd?: string; env?: Record<string, string> }): Promise<RunResult>;
  logs(): Promise<LogLine[]>;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** PIPCACHE_RESOLVE for the fake upstream. */
  resolve: string;
  /** Test CA the daemon must trust for upstream (NODE_EXTRA_CA_CERTS). */
  caCertPath: string;
  home?: string;
  extraEnv?: Record<string, string>;
}

/** Starts the real daemon through the real CLI, on port 0, in a temp home. */
export async function startDaemon(opts: StartOptions): Promise<TestDaemon> {
  const home = opts.home ?? (await mkdtemp(join(tmpdir(), 'pipcache-home-')));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    PIPCACHE_HOME: home,
    PIPCACHE_PORT: '0',
    PIPCACHE_RESOLVE: opts.resolve,
    NODE_EXTRA_CA_CERTS: opts.caCertPath,
    ...opts.extraEnv,
  };
  const cli = (args: string[], timeoutMs = 60_000, opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<RunResult> =>
    run(process.execPath, [CLI, ...args], { env: { ...env, ...opts.env }, timeoutMs, ...(opts.cwd ? { cwd: opts.cwd } : {}) });
  const started = await cli(['start']);
  if (started.code !== 0) throw new Error(`pipcache start failed: ${started.stderr}${started.stdout}`);
  const envOut = await cli(['env', '--json']);
  if (envOut.code !== 0) throw new Error(`pipcache env failed: ${envOut.stderr}`);
  const pipEnv = JSON.parse(envOut.stdout) as Record<string, string>;
  return {
    home,
    pipEnv,
    address: pipEnv.HTTPS_PROXY ?? '',
    cli,
    logs: async () => {
      const text = await readFile(join(home, 'logs', 'daemon.log'), 'utf8').catch(() => '');
      return text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as LogLine);
    },
    stop: async () => {
      await cli(['stop']);
    },
  };
}
