import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import httpProxy from 'http-proxy';
import type { Logger } from 'pino';
import { isPipcacheError, PipcacheError, type Limits } from '@pipcache/shared';
import type { LeafCache } from '../tls/leaf-cache.js';
import type { UpstreamGate } from '../upstream/gate.js';
import { openTunnel, proxyAuthorization } from '../upstream/proxied-agent.js';
import type { ClientAccess } from './access.js';
import { errorAnswer, sendError, type ErrorAnswer, type ErrorAnswerOptions } from './answer-error.js';
import type { Router } from './router.js';
import { OUTCOME_HEADER } from './context.js';

export interface ProxyServerDeps {
  router: Router;
  leafs: LeafCache;
  isIntercepted: (host: string) => boolean;
  access: ClientAccess;
  gate: UpstreamGate;
  limits: () => Limits;
  /** Origin-form requests (`GET /simple/...`): the daemon's own index. */
  local: (req: IncomingMessage, res: ServerResponse) => void;
  /** The outbound proxy for a tunnel (https) or a forward (http) to host:port; null: direct (none, or noProxy). */
  upstreamProxy: (scheme: 'https' | 'http', host: string, port: number) => URL | null;
  log: Logger;
}

/** How long opening a blind tunnel (or the proxy's answer to its CONNECT) may take. */
const TUNNEL_CONNECT_MS = 30_000;

const MAX_HEADER_BYTES = 16 * 1024;
const CONNECT_TARGET = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/;
/** An origin-form target: one slash, then no second one (`//host/...` would name another host). */
const ORIGIN_FORM = /^\/(?!\/)/;

/**
 * Writes an error answer on a raw socket and closes it: for refusals before
 * any HTTP response exists (CONNECT, connection limits, unparsable requests).
 * Status, body and headers come from the one error mapping.
 */
function refuse(socket: Duplex, answer: ErrorAnswer): void {
  if (socket.destroyed) return;
  const body = `${answer.text}\n`;
  const extra = Object.entries(answer.headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.end(
    `HTTP/1.1 ${answer.status} ${http.STATUS_CODES[answer.status] ?? ''}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/**
 * The HTTP proxy pip talks to. CONNECT to an intercepted host is answered by
 * terminating TLS with a leaf from the local CA and handing the decrypted
 * stream to an inner HTTP server (keep-alive: many requests per tunnel);
 * CONNECT to other hosts on 443 is a blind tunnel, where the gate allows it.
 * Clients outside `allow` are refused at connection time; with `auth`, every
 * proxy request must carry the token.
 */
export interface ProxyServer {
  server: http.Server;
  /** Ends every connection, tunnels included. */
  closeAll(): void;
}

export function createProxyServer(deps: ProxyServerDeps): ProxyServer {
  const { log } = deps;
  const tunnelHost = new WeakMap<Socket, string>();
  const tunnels = new Set<Socket>();
  let open = 0;
  let capLogged = 0;
  const forwarder = httpProxy.createProxyServer({ xfwd: false, proxyTimeout: 60_000 });
  // Plain-http requests to other hosts are relayed as they are: never cached.
  forwarder.on('proxyRes', (proxyRes) => {
    proxyRes.headers[OUTCOME_HEADER] = 'bypass';
  });
  forwarder.on('error', (err, _req, res) => {
    log.warn({ err: err.message }, 'forwarding failed');
    if (res instanceof http.ServerResponse) sendError(res, new PipcacheError('E_UPSTREAM', `upstream failed: ${err.message}`, { cause: err }));
    else res.destroy();
  });

  /** Logs a refusal with its code and answers it on the socket. */
  const refuseWith = (socket: Duplex, err: unknown, fields: Record<string, unknown>, opts: ErrorAnswerOptions = {}): void => {
    const answer = errorAnswer(err, opts);
    log.warn({ ...fields, code: answer.error.code, status: answer.status, reason: answer.error.message }, 'request refused');
    refuse(socket, answer);
  };

  const respondRefusal = (res: ServerResponse, err: unknown, fields: Record<string, unknown>, opts: ErrorAnswerOptions = {}): void => {
    const answer = sendError(res, err, opts);
    log.warn({ ...fields, code: answer.error.code, status: answer.status, reason: answer.error.message }, 'request refused');
  };

  const onClientError = (err: NodeJS.ErrnoException, socket: Duplex): void => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const answer = errorAnswer(
      err.code === 'HPE_HEADER_OVERFLOW'
        ? new PipcacheError('E_HEADERS_TOO_LARGE', 'request header fields too large')
        : new PipcacheError('E_BAD_REQUEST', 'malformed request'),
    );
    log.warn({ code: err.code, status: answer.status }, 'malformed request refused');
    refuse(socket, answer);
  };

  const inner = http.createServer({ maxHeaderSize: MAX_HEADER_BYTES, keepAliveTimeout: 60_000 }, (req, res) => {
    const host = tunnelHost.get(req.socket as Socket) ?? '';
    const target = req.url ?? '';
    let url: URL | undefined;
    try {
      url = ORIGIN_FORM.test(target) ? new URL(`https://${host}${target}`) : new URL(target);
    } catch {
      url = undefined;
    }
    // Inside a tunnel to one host, every request is for that host, over https.
    if (!url || url.protocol !== 'https:' || url.hostname !== host || (url.port !== '' && url.port !== '443')) {
      log.warn({ host, target: target.slice(0, 200) }, 'request refused: the target names another host than the tunnel');
      refuse(req.socket, errorAnswer(new PipcacheError('E_BAD_REQUEST', 'bad request target')));
      return;
    }
    deps.router.handle(req, res, url);
  });
  inner.on('clientError', onClientError);

  const server = http.createServer({ maxHeaderSize: MAX_HEADER_BYTES, keepAliveTimeout: 60_000 }, (req, res) => {
    const target = req.url ?? '';
    if (ORIGIN_FORM.test(target)) {
      try {
        deps.access.checkCredentials(req, 'authorization');
      } catch (err) {
        respondRefusal(res, err, { method: req.method, path: target.slice(0, 200) }, { direct: true });
        return;
      }
      deps.local(req, res);
      return;
    }
    let url: URL;
    try {
      url = new URL(target);
      if (target.startsWith('/')) throw new Error('not absolute');
    } catch {
      log.warn({ target: target.slice(0, 200) }, 'request refused: bad request target');
      sendError(res, new PipcacheError('E_BAD_REQUEST', 'bad request target'), { headers: { connection: 'close' } });
      return;
    }
    try {
      deps.access.checkCredentials(req, 'proxy-authorization');
    } catch (err) {
      respondRefusal(res, err, { method: req.method, host: url.host });
      return;
    }
    if (url.protocol !== 'http:') {
      sendError(res, new PipcacheError('E_BAD_REQUEST', 'only http:// URLs can be forwarded; use CONNECT for https'));
      return;
    }
    if (deps.isIntercepted(url.hostname)) {
      // An index is only ever fetched over https, whatever scheme the client named.
      const secure = new URL(`https://${url.hostname}${url.pathname}${url.search}`);
      deps.router.handle(req, res, secure);
      return;
    }
    const forwardHost = url.hostname.replace(/^\[|\]$/g, '');
    const forwardPort = Number(url.port) || 80;
    const via = deps.upstreamProxy('http', forwardHost, forwardPort);
    deps.gate.checkConnect('forward', forwardHost, forwardPort, via !== null).then(
      (dest) => {
        delete req.headers['proxy-authorization'];
        if (via) {
          // Absolute form to the outbound proxy, with its own credentials.
          req.url = `http://${authority(dest)}${url.pathname}${url.search}`;
          forwarder.web(req, res, { target: via.origin, toProxy: true, prependPath: false, headers: proxyAuthorization(via) });
          return;
        }
        req.url = url.pathname + url.search;
        forwarder.web(req, res, { target: `http://${authority(dest)}` });
      },
      (err: unknown) => respondRefusal(res, err, { method: req.method, host: url.host }, { kind: 'forward' }),
    );
  });
  server.on('clientError', onClientError);

  server.on('connection', (sock: Socket) => {
    try {
      deps.access.checkClient(sock.remoteAddress);
    } catch (err) {
      log.warn({ client: sock.remoteAddress, code: (err as PipcacheError).code }, 'connection refused: client not in allow');
      refuse(sock, errorAnswer(err));
      sock.destroySoon();
      return;
    }
    const limits = deps.limits();
    if (open >= limits.connections) {
      if (Date.now() - capLogged > 10_000) {
        capLogged = Date.now();
        log.warn({ code: 'E_LIMIT', limit: limits.connections }, 'connection refused: too many open connections (limits.connections)');
      }
      refuse(sock, errorAnswer(new PipcacheError('E_BUSY', 'too many open connections')));
      sock.destroySoon();
      return;
    }
    open++;
    sock.once('close', () => open--);
    // Idle clients and tunnels are closed; pip reconnects when it needs to.
    sock.setTimeout(limits.idleMs, () => sock.destroy());
  });

  server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const sock = socket as Socket;
    tunnels.add(sock);
    sock.on('close', () => tunnels.delete(sock));
    sock.on('error', (err) => log.debug({ err: err.message }, 'client socket error'));
    const m = CONNECT_TARGET.exec(req.url ?? '');
    if (!m) {
      log.warn({ target: (req.url ?? '').slice(0, 200) }, 'CONNECT refused: bad target');
      refuse(sock, errorAnswer(new PipcacheError('E_BAD_REQUEST', 'bad CONNECT target')));
      return;
    }
    const host = (m[1] ?? m[2] ?? '').toLowerCase();
    const port = Number(m[3]);
    if (!m[1] && !isHostName(host)) {
      log.warn({ target: (req.url ?? '').slice(0, 200) }, 'CONNECT refused: not a host name');
      refuse(sock, errorAnswer(new PipcacheError('E_BAD_REQUEST', 'bad CONNECT target')));
      return;
    }
    try {
      deps.access.checkCredentials(req, 'proxy-authorization');
    } catch (err) {
      refuseWith(sock, err, { method: 'CONNECT', host });
      return;
    }
    if (deps.isIntercepted(host) && port === 443) {
      intercept(sock, host, head);
      return;
    }
    const via = deps.upstreamProxy('https', host, port);
    deps.gate.checkConnect('tunnel', host, port, via !== null).then(
      (dest) => tunnel(sock, host, via ? openTunnel(via, authority(dest), TUNNEL_CONNECT_MS) : connectDirect(dest), head),
      (err: unknown) => refuseWith(sock, err, { method: 'CONNECT', host, port }, { kind: 'tunnel' }),
    );
  });

  function intercept(sock: Socket, host: string, head: Buffer): void {
    deps.leafs.get(host).then(
      (secureContext) => {
        sock.write('HTTP/1.1 200 Connection established\r\n\r\n');
        if (head.length > 0) sock.unshift(head);
        const tlsSocket = new tls.TLSSocket(sock, { isServer: true, secureContext, ALPNProtocols: ['http/1.1'] });
        tlsSocket.on('error', (err: NodeJS.ErrnoException) => {
          const { level, msg } = classifyTlsError(err);
          log[level]({ host, code: err.code, err: err.message }, msg);
          tlsSocket.destroy();
        });
        tunnelHost.set(tlsSocket, host);
        log.debug({ host }, 'tunnel intercepted');
        inner.emit('connection', tlsSocket);
      },
      (err: Error) => {
        log.error({ host, err: err.message }, 'could not issue a certificate');
        refuse(sock, errorAnswer(new PipcacheError('E_INTERNAL', 'could not issue a certificate', { cause: err })));
      },
    );
  }

  /** Relays a blind tunnel once `opening` gave the upstream socket (direct, or through the outbound proxy). */
  function tunnel(sock: Socket, host: string, opening: Promise<Socket>, head: Buffer): void {
    const started = performance.now();
    let bytes = 0;
    const logged = (): void => log.info({ method: 'CONNECT', host, cache: 'tunnel', bytes, ms: Math.round(performance.now() - started) }, 'request');
    opening.then(
      (upstream) => {
        if (sock.destroyed) {
          upstream.destroy();
          logged();
          return;
        }
        upstream.setTimeout(deps.limits().idleMs, () => upstream.destroy());
        sock.write('HTTP/1.1 200 Connection established\r\n\r\n');
        if (head.length > 0) upstream.write(head);
        upstream.on('data', (d: Buffer) => (bytes += d.length));
        upstream.on('error', (err) => {
          log.warn({ host, err: err.message }, 'tunnel failed');
          sock.destroy();
        });
        sock.on('close', () => upstream.destroy());
        upstream.on('close', () => {
          sock.destroy();
          logged();
        });
        sock.pipe(upstream);
        upstream.pipe(sock);
      },
      (err: unknown) => {
        log.warn({ host, code: isPipcacheError(err) ? err.code : undefined, err: (err as Error).message }, 'tunnel failed');
        const coded = isPipcacheError(err) ? err : new PipcacheError('E_UPSTREAM', `cannot reach ${host}: ${(err as Error).message}`, { cause: err });
        refuse(sock, errorAnswer(coded));
        logged();
      },
    );
  }

  server.on('close', () => {
    inner.close();
    forwarder.close();
  });
  return {
    server,
    closeAll: () => {
      server.closeAllConnections();
      inner.closeAllConnections();
      for (const s of tunnels) s.destroy();
    },
  };
}

/** host:port, an IPv6 address in brackets. */
function authority(dest: { host: string; port: number }): string {
  return `${dest.host.includes(':') ? `[${dest.host}]` : dest.host}:${dest.port}`;
}

/** A TCP connection to `dest`, once connected (bounded). */
function connectDirect(dest: { host: string; port: number }): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: dest.host, port: dest.port });
    socket.setTimeout(TUNNEL_CONNECT_MS, () => socket.destroy(new Error('connect timeout')));
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.setTimeout(0);
      resolve(socket);
    });
  });
}

/** A DNS name or IPv4 literal: at most 253 characters, labels of 1 to 63. */
function isHostName(host: string): boolean {
  return host.length <= 253 && host.split('.').every((label) => label.length >= 1 && label.length <= 63);
}

function classifyTlsError(err: NodeJS.ErrnoException): { level: 'warn' | 'debug'; msg: string } {
  const text = err.message.toLowerCase();
  if (text.includes('unknown ca') || text.includes('bad certificate') || text.includes('certificate unknown')) {
    return { level: 'warn', msg: 'TLS: the client rejected our certificate (is PIP_CERT set to the pipcache bundle?)' };
  }
  if (err.code === 'ECONNRESET') return { level: 'debug', msg: 'TLS: connection reset by the client' };
  if (text.includes('timeout')) return { level: 'warn', msg: 'TLS: handshake timed out' };
  return { level: 'warn', msg: 'TLS: handshake or stream error' };
}
