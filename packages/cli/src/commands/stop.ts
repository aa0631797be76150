import { existsSync } from 'node:fs';
import { PipcacheError } from '@pipcache/shared';
import { call } from '../client.js';
import { paths } from '../context.js';

const STOP_TIMEOUT_MS = 30_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function stop(): Promise<{ result: unknown; text: string }> {
  const p = paths();
  const hello = await call<{ pid: number }>(p.socket, 'hello');
  await call(p.socket, 'stop');
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (!alive(hello.pid) && !existsSync(p.socket)) return { result: { stopped: true, pid: hello.pid }, text: `pipcache stopped (pid ${hello.pid})` };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new PipcacheError('E_PROTOCOL', `the daemon (pid ${hello.pid}) did not stop within ${STOP_TIMEOUT_MS / 1000} s`);
}
