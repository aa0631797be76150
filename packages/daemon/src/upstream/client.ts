import { Agent, buildConnector, type Dispatcher } from 'undici';
import type { UpstreamTimeouts } from '@pipcache/shared';
import { PipcacheError } from '@pipcache/shared';
import type { UpstreamGate } from './gate.js';
import { resolveTarget } from './target.js';

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
}

/** Translates undici/network failures into coded errors at the boundary. */
export function upstreamError(err: unknown, url: string): PipcacheError {
  if (err instanceof PipcacheError) return err;
  const e = err as { code?: string; message?: string };
  const timeout = e.code === 'UND_ERR_CONNECT_TIMEOUT' || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT';
  return new PipcacheError(timeout ? 'E_UPSTREAM_TIMEOUT' : 'E_UPSTREAM', `${url}: ${e.code ?? ''} ${e.message ?? String(err)}`.trim(), {
    cause: err,
  });
}

/**
 * Every upstream request goes through one keep-alive undici Agent whose
 * connector applies the `resolve` overrides while keeping the real host name
 * for SNI and certificate checks.
 */
export class UpstreamClient {
  private readonly agent: Agent;

  constructor(
    private readonly resolve: () => Record<string, string>,
    timeouts: UpstreamTimeouts,
    private readonly gate: UpstreamGate,
    /** Told each request's time to response headers (seconds), or its failure to get any. */
    private readonly observe: (kind: 'page' | 'file', seconds: number, ok: boolean) => void = () => undefined,
  ) {
    const connector = buildConnector({ timeout: timeouts.connectMs });
    this.agent = new Agent({
      keepAliveTimeout: 30_000,
      connections: 16,
      headersTimeout: timeouts.headersMs,
      bodyTimeout: timeouts.bodyMs,
      connect: (opts, callback) => {
        const port = Number(opts.port) || (opts.protocol === 'https:' ? 443 : 80);
        const target = resolveTarget(this.resolve(), opts.hostname, port);
        connector(
          { ...opts, hostname: target.host, port: String(target.port), servername: opts.servername ?? opts.hostname },
          callback,
        );
      },
    });
  }

  /** One request to a configured index; the gate refuses anything else (and everything offline). */
  async request(
    url: string,
    opts: { kind?: 'page' | 'file'; method?: string; headers?: Record<string, string>; body?: NodeJS.ReadableStream; signal?: AbortSignal } = {},
  ): Promise<UpstreamResponse> {
    const kind = opts.kind ?? 'file';
    let started: number | undefined;
    try {
      const u = new URL(url);
      this.gate.checkFetch(kind, u);
      started = performance.now();
      const res = await this.agent.request({
        origin: u.origin,
        path: u.pathname + u.search,
        method: (opts.method ?? 'GET') as Dispatcher.HttpMethod,
        headers: { 'user-agent': 'pipcache', ...opts.headers },
        ...(opts.body ? { body: opts.body as unknown as Dispatcher.DispatchOptions['body'] } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      this.observe(kind, (performance.now() - started) / 1000, true);
      return { status: res.statusCode, headers: res.headers, body: res.body };
    } catch (err) {
      // Only requests that went out are timed; a refusal by the gate is not upstream's.
      if (started !== undefined) this.observe(kind, (performance.now() - started) / 1000, false);
      throw upstreamError(err, url);
    }
  }

  async close(): Promise<void> {
    await this.agent.destroy();
  }
}

export function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}
