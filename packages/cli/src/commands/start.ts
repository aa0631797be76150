import { spawn } from 'node:child_process';
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { PipcacheError, type StatusResult } from '@pipcache/shared';
import type { Argv } from 'yargs';
import { call, isRunning } from '../client.js';
import { paths } from '../context.js';
import { envLines, tokenFor } from './env.js';
import { DAEMON_NODE_FLAGS } from '../daemon-flags.js';

const STARTUP_TIMEOUT_MS = 20_000;

export interface StartArgs {
  port?: number;
  host?: string;
  maxSize?: string;
  foreground?: boolean;
  json?: boolean;
}

export function builder(y: Argv): Argv<StartArgs> {
  return y
    .option('port', { type: 'number', describe: 'proxy port (default 3143, or PIPCACHE_PORT)' })
    .option('host', { type: 'string', describe: 'address to bind (default 127.0.0.1)' })
    .option('max-size', { type: 'string', describe: 'disk the cached files may take, e.g. 20GiB (default: maxSize in the config, else 10% of the disk, at most 50 GiB)' })
    .option('foreground', { type: 'boolean', default: false, describe: 'run in this process (for service managers)' })
    .option('json', { type: 'boolean', default: false }) as Argv<StartArgs>;
}

function daemonMain(): string {
  return createRequire(import.meta.url).resolve('@pipcache/daemon');
}

function childEnv(args: StartArgs): NodeJS.ProcessEnv {
  const env = { ...process.env };
  if (args.port !== undefined) env.PIPCACHE_PORT = String(args.port);
  if (args.host !== undefined) env.PIPCACHE_HOST = args.host;
  if (args.maxSize !== undefined) env.PIPCACHE_MAX_SIZE = args.maxSize;
  return env;
}

export async function start(args: StartArgs): Promise<{ result: unknown; text: string }> {
  const p = paths();
  if (await isRunning(p.socket)) {
    const st = await call<StatusResult>(p.socket, 'status');
    // Under a service manager, exiting 0 would read as a clean run that
    // needs no restart: the service did not start, so it fails.
    if (args.foreground) {
      throw new PipcacheError('E_DAEMON_START_FAILED', `another pipcache daemon already runs on this home at ${st.address} (pid ${st.pid})`, {
        hint: 'stop it first with `pipcache stop`',
      });
    }
    return { result: { alreadyRunning: true, address: st.address, pid: st.pid }, text: `pipcache is already running at ${st.address} (pid ${st.pid})` };
  }
  if (args.foreground) {
    const { runDaemon } = await import('@pipcache/daemon');
    await runDaemon({ env: childEnv(args), announce: true });
    return { result: null, text: '' };
  }
  mkdirSync(dirname(p.logFile), { recursive: true, mode: 0o700 });
  const outFile = `${dirname(p.logFile)}/daemon.out`;
  // Appended, never truncated: a daemon may already be running on this home
  // (busy, so it did not answer) and writing to this file.
  const out = openSync(outFile, 'a');
  const from = fstatSync(out).size;
  const child = spawn(process.execPath, [...DAEMON_NODE_FLAGS, daemonMain()], { detached: true, stdio: ['ignore', out, out], env: childEnv(args) });
  closeSync(out);
  let exited: number | null = null;
  child.once('exit', (code) => (exited = code ?? 1));
  child.unref();
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited !== null) {
      const lines = readFileSync(outFile).subarray(from).toString('utf8').trim().split('\n');
      const detail = (lines.find((l) => l.startsWith('pipcache daemon: ')) ?? lines.at(-1) ?? '').replace(/^pipcache daemon: /, '');
      if (lines.includes('code: E_DAEMON_RUNNING')) throw new PipcacheError('E_DAEMON_RUNNING', detail);
      throw new PipcacheError('E_DAEMON_START_FAILED', `the daemon exited during start: ${detail || `exit code ${exited}`}`);
    }
    if (await isRunning(p.socket)) {
      const st = await call<StatusResult>(p.socket, 'status');
      const lines = envLines(st, p.bundle, false, await tokenFor(st, p.authToken));
      return {
        result: { address: st.address, pid: st.pid, home: st.home, env: lines.vars },
        text: `pipcache started at ${st.address} (pid ${st.pid})\nPoint pip at it with:\n  eval "$(pipcache env)"`,
      };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGTERM');
  throw new PipcacheError('E_DAEMON_START_FAILED', `the daemon did not answer within ${STARTUP_TIMEOUT_MS / 1000} s`);
}
