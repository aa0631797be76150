import net from 'node:net';
import { PipcacheError, type ControlProgress, type ControlResponse, type ErrorCode, type ProgressEvent, ERROR_CODES } from '@pipcache/shared';

const DEFAULT_TIMEOUT_MS = 15_000;

/**
 * One request over the daemon's control socket. A missing socket or a
 * refused connection means the daemon is not running.
 */
export function call<T>(
  socketPath: string,
  command: string,
  args: Record<string, unknown> = {},
  timeoutMs = DEFAULT_TIMEOUT_MS,
  onProgress?: (p: ProgressEvent) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const sock = net.connect(socketPath);
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new PipcacheError('E_PROTOCOL', `the daemon did not answer "${command}" within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(`${JSON.stringify({ id: 1, command, args })}\n`));
    sock.on('data', (d: string) => {
      buf += d;
      let nl: number;
      let resp: ControlResponse | undefined;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let msg: ControlResponse | ControlProgress;
        try {
          msg = JSON.parse(line) as ControlResponse | ControlProgress;
        } catch (err) {
          clearTimeout(timer);
          sock.destroy();
          reject(new PipcacheError('E_PROTOCOL', 'the daemon sent a reply that is not JSON', { cause: err }));
          return;
        }
        if ('progress' in msg) {
          onProgress?.(msg.progress);
          continue;
        }
        resp = msg;
        break;
      }
      if (!resp) return;
      clearTimeout(timer);
      sock.end();
      if (resp.ok) resolve(resp.result as T);
      else {
        const code = (resp.error.code in ERROR_CODES ? resp.error.code : 'E_PROTOCOL') as ErrorCode;
        reject(new PipcacheError(code, resp.error.message, resp.error.hint !== undefined ? { hint: resp.error.hint } : {}));
      }
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        reject(new PipcacheError('E_DAEMON_NOT_RUNNING', 'the daemon is not running', { cause: err }));
      } else reject(new PipcacheError('E_PROTOCOL', `control socket: ${err.message}`, { cause: err }));
    });
  });
}

/** True when a daemon answers on the socket. */
export async function isRunning(socketPath: string): Promise<boolean> {
  try {
    await call(socketPath, 'hello', {}, 3000);
    return true;
  } catch {
    return false;
  }
}
