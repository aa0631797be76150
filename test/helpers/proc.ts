import { spawn } from 'node:child_process';

export interface RunOptions {
  /** Complete environment of the child (nothing is inherited implicitly). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs: number;
  input?: string | Buffer;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/**
 * Runs a command to completion. On timeout the whole process group is
 * SIGKILLed (the child is spawned detached so it leads its own group) and the
 * promise resolves with `timedOut: true`. Rejects only if spawning fails.
 */
export function run(cmd: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, opts.timeoutMs);
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
      });
    });
    // EPIPE when the child exits without reading stdin is expected; the exit
    // status carries the real outcome.
    child.stdin.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') err.push(Buffer.from(`stdin error: ${e.message}\n`));
    });
    child.stdin.end(opts.input ?? '');
  });
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch (e) {
    // ESRCH: the group already exited between the timeout firing and the kill.
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

/** Throws with captured output unless the command exited 0. */
export function assertOk(what: string, r: RunResult): RunResult {
  if (r.code !== 0 || r.timedOut) {
    throw new Error(
      `${what} failed (code=${r.code} signal=${r.signal} timedOut=${r.timedOut})\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`,
    );
  }
  return r;
}
