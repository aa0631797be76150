import net from 'node:net';
import {
  ERROR_CODES,
  PROTOCOL_VERSION,
  PipcacheError,
  type ControlProgress,
  type ControlResponse,
  type ErrorCode,
  type HelloResult,
  type ProgressEvent,
} from '@pipcache/shared';

const DEFAULT_TIMEOUT_MS = 15_000;

/**
 * Commands every daemon answers whatever protocol it speaks: `hello` tells
 * the protocol, and `stop` must always work so that a daemon of another
 * version can be replaced.
 */
const ANY_PROTOCOL: ReadonlySet<string> = new Set(['hello', 'stop']);

/**
 * One command to the daemon. Except for `hello` and `stop`, the daemon is
 * first asked its protocol: a daemon left running from another version of
 * pipcache gets a clear E_PROTOCOL instead of a misread answer.
 */
export async function call<T>(
  socketPath: string,
  command: string,
  args: Record<string, unknown> = {},
  timeoutMs = DEFAULT_TIMEOUT_MS,
  onProgress?: (p: ProgressEvent) => void,
): Promise<T> {
  if (!ANY_PROTOCOL.has(command)) {
    checkProtocol(await request<HelloResult>(socketPath, 'hello', {}, Math.min(timeoutMs, DEFAULT_TIMEOUT_MS)));
  }
  return request<T>(socketPath, command, args, timeoutMs, onProgress);
}

/** Throws E_PROTOCOL unless the daemon's `hello` names the protocol this CLI speaks. */
export function checkProtocol(hello: HelloResult): void {
  const protocol = (hello as Partial<HelloResult> | null)?.protocol;
  if (protocol === PROTOCOL_VERSION) return;
  const theirs = typeof protocol === 'number' ? `protocol ${protocol}` : 'an unknown protocol';
  throw new PipcacheError(
    'E_PROTOCOL',
    `the running daemon speaks ${theirs}, this CLI speaks ${PROTOCOL_VERSION}: restart it with \`pipcache stop && pipcache start\``,
  );
}

/**
 * One request over the daemon's control socket. A missing socket or a
 * refused connection means the daemon is not running.
 */
function request<T>(
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
    await request(socketPath, 'hello', {}, 3000);
    return true;
  } catch {
    return false;
  }
}
