import net from 'node:net';
import { unlink } from 'node:fs/promises';
import type { Logger } from 'pino';
import { PipcacheError, type ControlProgress, type ControlRequest, type ControlResponse, type ProgressEvent } from '@pipcache/shared';

export type Handler = (args: Record<string, unknown>, progress: (p: ProgressEvent) => void) => Promise<unknown> | unknown;

const MAX_LINE = 1024 * 1024;
/** Longest a command waits for verified files to be published (a stuck disk must not hang the CLI). */
const SETTLE_MS = 10_000;

async function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * The control socket: newline-delimited JSON requests dispatched through a
 * handler map. The socket file is created with mode 0600; a stale file from a
 * crashed daemon is removed, a live one means another daemon owns this home.
 */
export async function listenControl(
  path: string,
  handlers: Record<string, Handler>,
  log: Logger,
  /** Awaited before each command (bounded): files already sent to clients are recorded first. */
  settle: () => Promise<void> = () => Promise.resolve(),
): Promise<net.Server> {
  if (await answers(path)) {
    throw new PipcacheError('E_DAEMON_RUNNING', `a pipcache daemon already answers on ${path}`);
  }
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  const server = net.createServer((sock) => {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('error', () => sock.destroy());
    const send = (msg: ControlResponse | ControlProgress): void => {
      if (!sock.destroyed) sock.write(`${JSON.stringify(msg)}\n`);
    };
    sock.on('data', (data: string) => {
      buf += data;
      if (buf.length > MAX_LINE) {
        sock.destroy();
        return;
      }
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        void dispatch(line, (id, progress) => send({ id, progress })).then(send);
      }
    });
  });
  const settleBounded = async (): Promise<void> => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        log.warn({ ms: SETTLE_MS }, 'files still being published; answering anyway');
        resolve();
      }, SETTLE_MS);
    });
    try {
      await Promise.race([settle().catch(() => undefined), late]);
    } finally {
      clearTimeout(timer);
    }
  };
  const dispatch = async (line: string, onProgress: (id: number, p: ProgressEvent) => void): Promise<ControlResponse> => {
    let req: ControlRequest;
    try {
      req = JSON.parse(line) as ControlRequest;
    } catch {
      return { id: -1, ok: false, error: { code: 'E_PROTOCOL', message: 'request is not JSON' } };
    }
    const handler = Object.hasOwn(handlers, req.command) ? handlers[req.command] : undefined;
    if (!handler) return { id: req.id, ok: false, error: { code: 'E_PROTOCOL', message: `unknown command ${req.command}` } };
    try {
      await settleBounded();
      return { id: req.id, ok: true, result: await handler(req.args ?? {}, (p) => onProgress(req.id, p)) };
    } catch (err) {
      if (err instanceof PipcacheError) {
        return { id: req.id, ok: false, error: { code: err.code, message: err.message, hint: err.hint } };
      }
      log.error({ err, command: req.command }, 'control command failed');
      return { id: req.id, ok: false, error: { code: 'E_INTERNAL', message: (err as Error).message } };
    }
  };
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(oldMask);
  }
  return server;
}
