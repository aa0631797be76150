/**
 * Every error pipcache reports on purpose carries a stable code. Branch on
 * `code`, never on the message. One table maps codes to CLI exit codes and
 * HTTP statuses; plain `Error` is reserved for bugs.
 */
export const ERROR_CODES = {
  E_DAEMON_NOT_RUNNING: { exit: 1, http: 503, hint: 'start it with `pipcache start`' },
  E_DAEMON_RUNNING: { exit: 0, http: 409, hint: 'stop it first with `pipcache stop`' },
  E_DAEMON_START_FAILED: { exit: 1, http: 500, hint: 'see `pipcache logs`' },
  E_PROTOCOL: { exit: 1, http: 500, hint: 'the CLI and the daemon disagree; restart the daemon' },
  E_CONFIG_INVALID: { exit: 1, http: 500, hint: 'fix the config file named in the message' },
  E_USAGE: { exit: 2, http: 400, hint: 'see --help' },
  E_BAD_REQUEST: { exit: 1, http: 400, hint: '' },
  E_BAD_FILENAME: { exit: 1, http: 400, hint: '' },
  E_METHOD_NOT_ALLOWED: { exit: 1, http: 405, hint: '' },
  E_NOT_ACCEPTABLE: { exit: 1, http: 406, hint: '' },
  E_HEADERS_TOO_LARGE: { exit: 1, http: 431, hint: '' },
  E_PAGE_INVALID: { exit: 1, http: 502, hint: 'the upstream index sent a page that does not parse' },
  E_HASH_MISMATCH: { exit: 1, http: 502, hint: 'the upstream body did not match the index hash; nothing was cached' },
  E_TRUNCATED: { exit: 1, http: 502, hint: 'the upstream body was cut off; nothing was cached' },
  E_UPSTREAM: { exit: 1, http: 502, hint: 'the upstream index could not be reached' },
  E_UPSTREAM_PROXY: { exit: 1, http: 502, hint: 'the upstream proxy (upstreamProxy, or HTTPS_PROXY when the daemon started) could not be used; see the message' },
  E_UPSTREAM_PROXY_AUTH: {
    exit: 1,
    http: 503,
    hint: 'put the proxy credentials in upstreamProxy (http://user:pass@host:port) or in HTTPS_PROXY when starting the daemon',
  },
  E_UPSTREAM_TIMEOUT: { exit: 1, http: 504, hint: 'the upstream index did not answer in time' },
  E_SHARED: { exit: 1, http: 502, hint: 'the team bucket (shared.s3) could not be used; the daemon goes upstream instead' },
  E_OFFLINE_MISS: { exit: 1, http: 503, hint: 'pipcache is offline and does not hold this file' },
  E_TEAM_MISS: {
    exit: 1,
    http: 503,
    hint: 'team-only mode reads the team store and no index; install it once on a daemon that is online with the same store, or `pipcache offline off`',
  },
  E_NOT_FOUND: { exit: 1, http: 404, hint: '' },
  E_DISK: { exit: 1, http: 507, hint: 'the cache could not write to disk' },
  E_FORBIDDEN: { exit: 1, http: 403, hint: 'pipcache only reaches the configured indexes (interceptHosts, indexUpstream, indexes) and, for tunnels, what the config allows' },
  E_CLIENT_REFUSED: { exit: 1, http: 403, hint: 'add the client network to `allow` in the config' },
  E_AUTH_REQUIRED: { exit: 1, http: 407, hint: 'use the proxy URL that `pipcache env` prints (it carries the token)' },
  E_LIMIT: { exit: 1, http: 502, hint: 'a limit in the config (`limits`) was reached' },
  E_BUSY: { exit: 1, http: 503, hint: 'too many open connections (limits.connections); retry later' },
  E_CA_INVALID: {
    exit: 1,
    http: 500,
    hint: 'move the CA directory (~/.pipcache/ca) away so that pipcache makes a new CA at start; pip must then trust the new bundle',
  },
  E_EXPORT_UNPROVEN: { exit: 1, http: 500, hint: 'pip cannot install the exported set from the directory alone; see the message' },
  E_SERVICE: { exit: 1, http: 500, hint: 'see `pipcache service status`; `pipcache service install --print` shows the file' },
  E_INTERNAL: { exit: 1, http: 500, hint: 'a bug in pipcache; see `pipcache logs`' },
} as const satisfies Record<string, { exit: number; http: number; hint: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class PipcacheError extends Error {
  readonly code: ErrorCode;
  readonly hint: string;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; hint?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PipcacheError';
    this.code = code;
    this.hint = options.hint ?? ERROR_CODES[code].hint;
  }

  get exitCode(): number {
    return ERROR_CODES[this.code].exit;
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code].http;
  }
}

export function isPipcacheError(err: unknown, code?: ErrorCode): err is PipcacheError {
  return err instanceof PipcacheError && (code === undefined || err.code === code);
}
