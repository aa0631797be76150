import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorCode } from '@pipcache/shared';

export type CacheOutcome =
  | 'hit'
  | 'miss'
  | 'revalidated'
  | 'stale'
  | 'bypass'
  | 'offline'
  | 'refused'
  | 'redirect'
  | 'error';

/** One request on an intercepted (or index-mode) connection. */
export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  /** Upstream host the request is for. */
  host: string;
  /** Full upstream URL, without fragment. */
  url: URL;
  outcome: CacheOutcome;
  /** Why a request was refused or served stale; goes to the log line. */
  reason?: string;
  /** The code of the error or refusal the request ended in; goes to the log line. */
  code?: ErrorCode;
  /** Bytes of this response body that came from disk / from upstream. */
  fromCache: number;
  fromUpstream: number;
}

/** The response header naming how a request was answered: the request's `outcome`. */
export const OUTCOME_HEADER = 'x-pipcache';

/**
 * Writes the status line of a routed request's answer, with its outcome in
 * `X-Pipcache`: every answer's head goes through here, so none lacks it and
 * none can carry a stale one relayed from upstream.
 */
export function writeHead(ctx: RequestContext, status: number, headers: Record<string, string | number> = {}): void {
  ctx.res.writeHead(status, { ...headers, [OUTCOME_HEADER]: ctx.outcome });
}
