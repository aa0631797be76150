import type { ServerResponse } from 'node:http';
import { PipcacheError, type ErrorCode } from '@pipcache/shared';
import { refusalStatus, type Outbound } from '../upstream/gate.js';
import { OUTCOME_HEADER, type CacheOutcome, type RequestContext } from './context.js';
import { sendText } from './send.js';

export interface ErrorAnswerOptions {
  /** The kind of outbound request that was refused: pip reads the status per kind (see `refusalStatus`). */
  kind?: Outbound | undefined;
  /** A status upstream gave for this failure, relayed as it was (a failed download's 404). */
  status?: number | undefined;
  /** The request was made to the daemon itself (index mode), not through it as a proxy: credentials are asked with 401. */
  direct?: boolean | undefined;
  /** Extra response headers (e.g. `connection: close`). */
  headers?: Record<string, string> | undefined;
}

export interface ErrorAnswer {
  error: PipcacheError;
  status: number;
  /** The response body, without its final newline. */
  text: string;
  headers: Record<string, string>;
}

/**
 * How a request that ended in one of these errors shows in the log, the
 * counters and `X-Pipcache`; anything else is an 'error'.
 */
const OUTCOMES: Partial<Record<ErrorCode, CacheOutcome>> = {
  E_OFFLINE_MISS: 'offline',
  E_TEAM_MISS: 'offline',
  E_FORBIDDEN: 'refused',
  E_BAD_REQUEST: 'refused',
  E_NOT_FOUND: 'refused',
  E_METHOD_NOT_ALLOWED: 'refused',
  E_NOT_ACCEPTABLE: 'refused',
  E_HEADERS_TOO_LARGE: 'refused',
  E_CLIENT_REFUSED: 'refused',
  E_AUTH_REQUIRED: 'refused',
  E_BUSY: 'refused',
};

export function outcomeOf(code: ErrorCode): CacheOutcome {
  return OUTCOMES[code] ?? 'error';
}

/** An uncoded error that reached an answer came from the way out (a socket, a resolver). */
export function coded(err: unknown): PipcacheError {
  return err instanceof PipcacheError ? err : new PipcacheError('E_UPSTREAM', (err as Error).message, { cause: err });
}

/**
 * The one mapping from an error to an HTTP answer: the status from the
 * error table (or per kind of refused request, or relayed from upstream),
 * the `pipcache: <message>` body, and the challenge a client needs to retry
 * with credentials.
 */
export function errorAnswer(err: unknown, opts: ErrorAnswerOptions = {}): ErrorAnswer {
  const error = coded(err);
  let status = opts.status ?? (opts.kind ? refusalStatus(opts.kind, error) : error.httpStatus);
  const headers: Record<string, string> = { ...opts.headers, [OUTCOME_HEADER]: outcomeOf(error.code) };
  if (error.code === 'E_AUTH_REQUIRED') {
    if (opts.direct) {
      status = 401;
      headers['WWW-Authenticate'] = 'Basic realm="pipcache"';
    } else headers['Proxy-Authenticate'] = 'Basic realm="pipcache"';
  }
  return { error, status, text: `pipcache: ${error.message}`, headers };
}

/** Answers a response with no request context yet (a refusal before routing). */
export function sendError(res: ServerResponse, err: unknown, opts: ErrorAnswerOptions = {}): ErrorAnswer {
  const answer = errorAnswer(err, opts);
  sendText(res, answer.status, answer.text, answer.headers);
  return answer;
}

/**
 * Answers a routed request that ended in an error, and records on its
 * context what the request log line and the counters need: the outcome, the
 * reason and the error code.
 */
export function answerError(
  ctx: RequestContext,
  err: unknown,
  opts: ErrorAnswerOptions & { outcome?: CacheOutcome; reason?: string | undefined } = {},
): PipcacheError {
  const answer = errorAnswer(err, opts);
  ctx.outcome = opts.outcome ?? outcomeOf(answer.error.code);
  ctx.reason = opts.reason ?? answer.error.message;
  ctx.code = answer.error.code;
  sendText(ctx.res, answer.status, answer.text, { ...answer.headers, [OUTCOME_HEADER]: ctx.outcome });
  return answer.error;
}
