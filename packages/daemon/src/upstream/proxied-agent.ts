import { isIP, type Socket } from 'node:net';
import { buildConnector, Client, Pool, ProxyAgent } from 'undici';
import { PipcacheError, redactUrl, type UpstreamTimeouts } from '@pipcache/shared';
import { resolveTarget } from './target.js';

export interface ProxiedAgentOptions {
  proxy: URL;
  resolve: () => Record<string, string>;
  timeouts: UpstreamTimeouts;
  /** The upstream trust, when it is not Node's default (see trust.ts). */
  ca: string[] | null;
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

/** Why a tunnel through the proxy could not be opened, as a coded error that names the proxy (never its credentials). */
export function proxyError(err: unknown, proxy: URL, target: string): PipcacheError {
  if (err instanceof PipcacheError) return err;
  const e = err as { code?: string; message?: string };
  const shown = redactUrl(proxy);
  const status = /Proxy response \((\d{3})\)|Proxy Authentication Required \((\d{3})\)/.exec(e.message ?? '');
  const code = Number(status?.[1] ?? status?.[2]);
  if (code === 407) {
    const given = proxy.username !== '' || proxy.password !== '';
    return new PipcacheError('E_UPSTREAM_PROXY_AUTH', `the upstream proxy ${shown} ${given ? 'refused the credentials' : 'requires credentials'} (407)`, { cause: err });
  }
  if (code) return new PipcacheError('E_UPSTREAM_PROXY', `the upstream proxy ${shown} answered ${code} to CONNECT ${target}`, { cause: err });
  if (e.code && TIMEOUT_CODES.has(e.code)) return new PipcacheError('E_UPSTREAM_TIMEOUT', `the upstream proxy ${shown}: ${e.code} ${e.message ?? ''}`.trim(), { cause: err });
  return new PipcacheError('E_UPSTREAM_PROXY', `the upstream proxy ${shown} cannot be reached: ${e.code ?? ''} ${e.message ?? String(err)}`.trim(), {
    cause: err,
  });
}

/**
 * An undici ProxyAgent for one outbound proxy. Https origins are reached
 * through a CONNECT tunnel to the `resolve` override of host:port (else
 * host:port itself, which the proxy resolves); TLS inside the tunnel is ours,
 * so the certificate is checked against the real host name and the
 * configured trust. Plain-http origins are forwarded in absolute form
 * (a CONNECT to port 80 is refused by most proxies).
 */
export function proxiedAgent(o: ProxiedAgentOptions): ProxyAgent {
  const tls = buildConnector({ timeout: o.timeouts.connectMs, ...(o.ca ? { ca: o.ca } : {}) });
  return new ProxyAgent({
    uri: o.proxy.href,
    proxyTunnel: false,
    keepAliveTimeout: 30_000,
    connections: 16,
    headersTimeout: o.timeouts.headersMs,
    bodyTimeout: o.timeouts.bodyMs,
    proxyTls: { timeout: o.timeouts.connectMs },
    factory: (origin, options) => {
      const opts = options as Pool.Options & { connect: buildConnector.connector };
      // The forwarding client to the proxy itself (plain-http origins).
      if (new URL(String(origin)).origin === o.proxy.origin) return new Pool(origin, opts);
      const tunnel = opts.connect;
      return new Pool(origin, {
        ...opts,
        connect: (c, callback) => {
          const port = Number(c.port) || (c.protocol === 'https:' ? 443 : 80);
          const target = resolveTarget(o.resolve(), c.hostname, port);
          const authority = `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
          // Asked as plain http, the ProxyAgent hands back the raw tunnel; TLS follows here.
          tunnel({ ...c, protocol: 'http:', host: authority, hostname: target.host, port: String(target.port) }, (err, socket) => {
            if (err || !socket) {
              callback(proxyError(err, o.proxy, authority), null);
              return;
            }
            if (c.protocol !== 'https:') {
              callback(null, socket);
              return;
            }
            const servername = c.servername || (isIP(c.hostname) ? undefined : c.hostname);
            tls({ ...c, ...(servername ? { servername } : {}), httpSocket: socket }, (tlsErr, tlsSocket) => {
              if (tlsErr || !tlsSocket) {
                const hint = 'a TLS-intercepting proxy needs its CA in caFile or NODE_EXTRA_CA_CERTS';
                callback(
                  new PipcacheError('E_UPSTREAM', `TLS to ${c.hostname} through the upstream proxy ${redactUrl(o.proxy)} failed: ${tlsErr?.message ?? 'no socket'} (${hint})`, {
                    cause: tlsErr,
                  }),
                  null,
                );
                socket.destroy();
              } else callback(null, tlsSocket);
            });
          });
        },
      });
    },
  });
}

/** `Proxy-Authorization` for the credentials in a proxy URL (as undici's ProxyAgent sends them), or none. */
export function proxyAuthorization(proxy: URL): Record<string, string> {
  if (proxy.username === '' && proxy.password === '') return {};
  const pair = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
  return { 'proxy-authorization': `Basic ${Buffer.from(pair).toString('base64')}` };
}

/**
 * A raw tunnel to `authority` (host:port) through the outbound proxy: the
 * socket once the proxy answered 200 to CONNECT, for a client's blind tunnel
 * to a host the daemon does not intercept. Failures are coded as for the
 * daemon's own requests (407, another status, unreachable, timeout).
 */
export async function openTunnel(proxy: URL, authority: string, timeoutMs: number): Promise<Socket> {
  const client = new Client(proxy.origin, { connect: { timeout: timeoutMs }, headersTimeout: timeoutMs });
  try {
    const { statusCode, socket } = await client.connect({ path: authority, headers: { host: authority, ...proxyAuthorization(proxy) } });
    if (statusCode !== 200) {
      socket.destroy();
      throw proxyError(new Error(`Proxy response (${statusCode}) !== 200 when tunnelling`), proxy, authority);
    }
    return socket as Socket;
  } catch (err) {
    throw proxyError(err, proxy, authority);
  } finally {
    // The tunnel's socket is the caller's now; the client only closes its own.
    void client.close().catch(() => undefined);
  }
}
