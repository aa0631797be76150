import { PipcacheError } from '@pipcache/shared';
import { refusalStatus, type Outbound } from '../upstream/gate.js';
import type { RequestContext } from './context.js';
import { sendText } from './send.js';

/**
 * Answers a request the daemon will not serve, from its coded error: the
 * one mapping of refusals (offline, not a configured index, a limit) to an
 * HTTP status per kind of request, and to the outcome in the log.
 */
export function answerRefusal(ctx: RequestContext, kind: Outbound, err: unknown): void {
  const e = err instanceof PipcacheError ? err : new PipcacheError('E_UPSTREAM', (err as Error).message);
  ctx.outcome = e.code === 'E_OFFLINE_MISS' ? 'offline' : e.code === 'E_FORBIDDEN' ? 'refused' : 'error';
  ctx.reason = e.message;
  sendText(ctx.res, refusalStatus(kind, e), `pipcache: ${e.message}`);
}
