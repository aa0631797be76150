import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { PipcacheError, type UpstreamMode } from '@pipcache/shared';
import { sendError } from './answer-error.js';

export interface MonitoringDeps {
  /** The Prometheus text exposition and its content type. */
  metrics: { text(): Promise<string>; readonly contentType: string };
  version: string;
  isOffline: () => boolean;
  /** online, team (the team store only) or offline. */
  mode: () => UpstreamMode;
  /** True once the daemon began to stop: load balancers should send no more. */
  isStopping: () => boolean;
  log: Logger;
}

export const METRICS_PATH = '/-/metrics';
export const HEALTH_PATH = '/-/health';

/**
 * The daemon's own endpoints on the listener, next to index mode's
 * `/simple/`: reached by origin-form requests, so the listener's access
 * rules (allow list at connection, the token on `Authorization`) are
 * already applied. `/-/` cannot collide with a project path of the index.
 */
export class Monitoring {
  constructor(private readonly deps: MonitoringDeps) {}

  /** Answers the request when it is for one of these endpoints; false otherwise. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const path = (req.url ?? '').split('?')[0];
    if (path !== METRICS_PATH && path !== HEALTH_PATH) return false;
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') {
      sendError(res, new PipcacheError('E_METHOD_NOT_ALLOWED', `${path} answers GET and HEAD`), { headers: { allow: 'GET, HEAD' } });
      return true;
    }
    if (path === HEALTH_PATH) this.health(req, res);
    else this.metrics(req, res);
    return true;
  }

  private health(req: IncomingMessage, res: ServerResponse): void {
    const stopping = this.deps.isStopping();
    const body = `${JSON.stringify({ status: stopping ? 'stopping' : 'ok', version: this.deps.version, offline: this.deps.isOffline(), mode: this.deps.mode() })}\n`;
    send(req, res, stopping ? 503 : 200, 'application/json', body);
  }

  private metrics(req: IncomingMessage, res: ServerResponse): void {
    this.deps.metrics.text().then(
      (text) => send(req, res, 200, this.deps.metrics.contentType, text),
      (err: Error) => {
        this.deps.log.error({ err }, 'metrics failed');
        sendError(res, new PipcacheError('E_INTERNAL', 'metrics failed', { cause: err }));
      },
    );
  }
}

function send(req: IncomingMessage, res: ServerResponse, status: number, contentType: string, text: string): void {
  const body = Buffer.from(text);
  // Never cached by anything between the daemon and its monitor.
  res.writeHead(status, { 'content-type': contentType, 'content-length': body.length, 'cache-control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : body);
}
