import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, type RunResult } from './proc.js';
import { waitFor } from './wait.js';

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
  /**
   * Whether a log line matching `match` appears within `timeoutMs`: lines are
   * written asynchronously, and a request's line only once its connection
   * closed, so a client may be done before its line is there.
   */
  logged(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<boolean>;
  stop(): Promise<void>;
  /** The daemon's pid, from `daemon.json` in its home. */
  pid(): Promise<number>;
  /** SIGKILLs the daemon (no shutdown of any kind) and waits until the process is gone. */
  kill(): Promise<void>;
  /**
   * Waits until files already sent to clients are published: a client gets
   * a miss's last byte once it is verified, and the blob is fsynced, renamed
   * and recorded just after. Every control command waits for that first.
   */
  published(): Promise<void>;
}

const KILL_WAIT_MS = 10_000;
const LOG_WAIT_MS = 5_000;

/** False once the process is gone or a zombie (its reaper may be slow to collect it). */
async function alive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw e;
  }
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return !/^\d+ \(.*\) Z/.test(stat);
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
  const pid = async (): Promise<number> => {
    const info = JSON.parse(await readFile(join(home, 'daemon.json'), 'utf8')) as { pid?: unknown };
    if (typeof info.pid !== 'number') throw new Error(`no pid in ${join(home, 'daemon.json')}`);
    return info.pid;
  };
  const logs = async (): Promise<LogLine[]> => {
    const text = await readFile(join(home, 'logs', 'daemon.log'), 'utf8').catch(() => '');
    return text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as LogLine);
  };
  return {
    home,
    pipEnv,
    address: pipEnv.HTTPS_PROXY ?? '',
    cli,
    logs,
    logged: (match, timeoutMs = LOG_WAIT_MS) =>
      waitFor('a log line', async () => (await logs()).some(match), timeoutMs, 50).then(
        () => true,
        () => false,
      ),
    stop: async () => {
      await cli(['stop']);
    },
    published: async () => {
      const r = await cli(['status']);
      if (r.code !== 0) throw new Error(`pipcache status failed: ${r.stderr}`);
    },
    pid,
    kill: async () => {
      const p = await pid();
      process.kill(p, 'SIGKILL');
      const deadline = Date.now() + KILL_WAIT_MS;
      while (await alive(p)) {
        if (Date.now() > deadline) throw new Error(`daemon pid ${p} still alive ${KILL_WAIT_MS} ms after SIGKILL`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}
