import { Agent, buildConnector, type Dispatcher, type ProxyAgent } from 'undici';
import type { Config, UpstreamTimeouts } from '@pipcache/shared';
import { PipcacheError } from '@pipcache/shared';
import type { UpstreamGate } from './gate.js';
import { proxiedAgent, proxyError } from './proxied-agent.js';
import { bypassesProxy, DIRECT, type ProxyChoice } from './proxy-choice.js';
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

export interface UpstreamClientDeps {
  /** The live config: `resolve`, and `indexUpstream` with its credentials. */
  config: () => Config;
  timeouts: UpstreamTimeouts;
  gate: UpstreamGate;
  /** The outbound proxy in use (decided once the daemon knows its own address; see proxy-choice.ts). */
  proxy?: () => ProxyChoice;
  /** Upstream trust when it is not Node's default (`caFile`; see trust.ts). */
  ca?: string[] | null;
  /** Told each request's time to response headers (seconds), or its failure to get any. */
  observe?: (kind: 'page' | 'file', seconds: number, ok: boolean) => void;
}

/**
 * Every upstream request goes through one shared keep-alive undici Agent
 * whose connector applies the `resolve` overrides while keeping the real
 * host name for SNI and certificate checks, or, when an outbound proxy is in
 * use and the host is not in `noProxy`, through one shared ProxyAgent per
 * proxy URL.
 */
export class UpstreamClient {
  private readonly agent: Agent;
  private readonly proxied = new Map<string, ProxyAgent>();

  constructor(private readonly deps: UpstreamClientDeps) {
    const { timeouts } = deps;
    const connector = buildConnector({ timeout: timeouts.connectMs, ...(deps.ca ? { ca: deps.ca } : {}) });
    this.agent = new Agent({
      keepAliveTimeout: 30_000,
      connections: 16,
      headersTimeout: timeouts.headersMs,
      bodyTimeout: timeouts.bodyMs,
      connect: (opts, callback) => {
        const port = Number(opts.port) || (opts.protocol === 'https:' ? 443 : 80);
        const target = resolveTarget(this.deps.config().resolve, opts.hostname, port);
        connector(
          { ...opts, hostname: target.host, port: String(target.port), servername: opts.servername ?? opts.hostname },
          callback,
        );
      },
    });
  }

  /** The proxy a request to `u` goes through, or null for a direct connection. */
  proxyFor(u: URL): URL | null {
    const choice = this.deps.proxy?.() ?? DIRECT;
    const proxy = u.protocol === 'https:' ? choice.https : choice.http;
    return proxy && !bypassesProxy(u, choice.noProxy) ? proxy : null;
  }

  private dispatcher(proxy: URL | null): Dispatcher {
    if (!proxy) return this.agent;
    let agent = this.proxied.get(proxy.href);
    if (!agent) {
      // A proxy no longer chosen (a config reload) finishes what it carries, then closes.
      const choice = this.deps.proxy?.() ?? DIRECT;
      const current = new Set([choice.https?.href, choice.http?.href]);
      for (const [href, old] of this.proxied) {
        if (!current.has(href)) {
          this.proxied.delete(href);
          void old.close().catch(() => undefined);
        }
      }
      agent = proxiedAgent({ proxy, resolve: () => this.deps.config().resolve, timeouts: this.deps.timeouts, ca: this.deps.ca ?? null });
      this.proxied.set(proxy.href, agent);
    }
    return agent;
  }

  /** Basic credentials for the `indexUpstream` origin (a parent daemon's token, a private index), for that origin only. */
  private credentialsFor(u: URL): Record<string, string> {
    const cfg = this.deps.config();
    const creds = cfg.indexCredentials;
    if (!creds || u.origin !== new URL(cfg.indexUpstream).origin) return {};
    return { authorization: `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}` };
  }

  /** One request to a configured index; the gate refuses anything else (and everything offline or team-only). */
  async request(
    url: string,
    opts: { kind?: 'page' | 'file'; method?: string; headers?: Record<string, string>; body?: NodeJS.ReadableStream; signal?: AbortSignal } = {},
  ): Promise<UpstreamResponse> {
    const kind = opts.kind ?? 'file';
    let proxy: URL | null = null;
    let started: number | undefined;
    try {
      const u = new URL(url);
      this.deps.gate.checkOutbound(kind, u);
      proxy = this.proxyFor(u);
      started = performance.now();
      const res = await this.dispatcher(proxy).request({
        origin: u.origin,
        path: u.pathname + u.search,
        method: (opts.method ?? 'GET') as Dispatcher.HttpMethod,
        headers: { 'user-agent': 'pipcache', ...opts.headers, ...this.credentialsFor(u) },
        ...(opts.body ? { body: opts.body as unknown as Dispatcher.DispatchOptions['body'] } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      this.deps.observe?.(kind, (performance.now() - started) / 1000, true);
      return { status: res.statusCode, headers: res.headers, body: res.body };
    } catch (err) {
      // Only requests that went out are timed; a refusal by the gate is not upstream's.
      if (started !== undefined) this.deps.observe?.(kind, (performance.now() - started) / 1000, false);
      // A forwarded (plain-http) request's 407 comes back as an error of the request.
      if (proxy && /Proxy Authentication Required/.test((err as Error).message)) throw proxyError(err, proxy, new URL(url).host);
      throw upstreamError(err, url);
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.agent.destroy(), ...[...this.proxied.values()].map((a) => a.destroy())]);
  }
}

export function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}
