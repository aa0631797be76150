/** Small helpers shared by the benchmarks: statistics, tables, bounded waits. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = resolve(BENCH_DIR, '..');
/** Gitignored; holds generated inputs that are expensive to rebuild. */
export const WORK_DIR = join(BENCH_DIR, '.work');
export const REGISTER = join(BENCH_DIR, 'lib', 'register.mjs');

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function min(xs: number[]): number {
  return Math.min(...xs);
}

export function max(xs: number[]): number {
  return Math.max(...xs);
}

/** Plain fixed-width table; columns after the first are right-aligned. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function secs(ms: number, digits = 2): string {
  return (ms / 1000).toFixed(digits);
}

export function mb(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

/** GB/s with GB = 1e9 bytes. */
export function gbps(bytes: number, ms: number): number {
  return bytes / 1e9 / (ms / 1000);
}

export function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `pipcache-bench-${prefix}-`));
}

export async function workDir(name: string): Promise<string> {
  const dir = join(WORK_DIR, name);
  await mkdir(dir, { recursive: true });
  return dir;
}

/** Rejects after `ms` with a message naming `what`. */
export async function bounded<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface ChildServer {
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts `bench/lib/<script>.ts` in its own Node process (so the server does not
 * share a core with the client) and waits for its `{"port":N}` line.
 */
export async function startChildServer(script: string, args: string[], timeoutMs = 30_000): Promise<ChildServer> {
  const child = spawn(process.execPath, ['--import', REGISTER, join(BENCH_DIR, 'lib', script), ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((res) => child.once('exit', () => res()));
    child.kill('SIGTERM');
    await bounded(`stopping ${script}`, 5_000, exited).catch(() => {
      child.kill('SIGKILL');
    });
  };
  try {
    const port = await bounded(
      `starting ${script}`,
      timeoutMs,
      new Promise<number>((res, rej) => {
        let buf = '';
        child.stdout!.on('data', (d: Buffer) => {
          buf += d.toString('utf8');
          const nl = buf.indexOf('\n');
          if (nl >= 0) res((JSON.parse(buf.slice(0, nl)) as { port: number }).port);
        });
        child.once('exit', (code) => rej(new Error(`${script} exited early (code ${code})`)));
        child.once('error', rej);
      }),
    );
    return { port, child, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * `pipcache stop`; if the daemon is still alive afterwards (stop failed), it is
 * killed by the pid in `<home>/daemon.json` (a process this benchmark started).
 */
export async function stopDaemon(d: { home: string; stop(): Promise<void> }): Promise<void> {
  const { readFile } = await import('node:fs/promises');
  const pidOf = async (): Promise<number | undefined> => {
    try {
      return (JSON.parse(await readFile(join(d.home, 'daemon.json'), 'utf8')) as { pid?: number }).pid;
    } catch {
      return undefined;
    }
  };
  const pid = await pidOf();
  await bounded('pipcache stop', 40_000, d.stop()).catch((e: unknown) => log(String(e)));
  if (pid === undefined) return;
  try {
    process.kill(pid, 0);
  } catch {
    return; // gone
  }
  log(`daemon pid ${pid} still alive after stop; killing it`);
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // exited meanwhile
  }
}

/** Stops what a benchmark started, in order, and removes its temp dir; each step runs even if one before failed. */
export async function teardown(parts: {
  daemon?: { home: string; stop(): Promise<void> } | undefined;
  pypi?: { close(): Promise<void> } | undefined;
  tmp: string;
}): Promise<void> {
  if (parts.daemon) await stopDaemon(parts.daemon);
  if (parts.pypi) await parts.pypi.close().catch(() => undefined);
  const { rm } = await import('node:fs/promises');
  await rm(parts.tmp, { recursive: true, force: true });
}

/** Runs a benchmark's main, printing a failure and setting the exit code instead of throwing. */
export function runBenchmark(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exitCode = 1;
  });
}
