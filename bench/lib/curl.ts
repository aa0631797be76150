/** curl as a benchmark client: the body goes to /dev/null, curl reports size, time and speed. */
import { run } from '../../test/helpers/proc.js';

export interface Sample {
  bytes: number;
  ms: number;
  /** curl only: its own `%{speed_download}` (bytes/s). */
  speed?: number;
}

const CURL_ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

/** One curl GET; throws unless curl exits 0 (`--fail`: an HTTP error status fails too). */
export async function curlDiscard(args: string[], timeoutMs: number): Promise<Sample> {
  const r = await run('curl', ['-sS', '--fail', '-o', '/dev/null', '-w', '%{size_download} %{time_total} %{speed_download}', ...args], {
    env: CURL_ENV,
    timeoutMs,
  });
  if (r.code !== 0 || r.timedOut) throw new Error(`curl ${args.join(' ')} failed (code ${r.code}${r.timedOut ? ', timed out' : ''}): ${r.stderr}`);
  const [size, total, speed] = r.stdout.trim().split(/\s+/).map(Number);
  return { bytes: size ?? 0, ms: (total ?? 0) * 1000, ...(speed !== undefined && Number.isFinite(speed) && speed > 0 ? { speed } : {}) };
}

/** `curl --version`'s first line, or undefined when curl is not there. */
export async function curlVersion(): Promise<string | undefined> {
  const r = await run('curl', ['--version'], { env: CURL_ENV, timeoutMs: 10_000 }).catch(() => undefined);
  return r && r.code === 0 ? r.stdout.split('\n')[0] : undefined;
}
