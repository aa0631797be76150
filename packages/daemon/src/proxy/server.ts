import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import httpProxy from 'http-proxy';
import type { Logger } from 'pino';
import type { LeafCache } from '../tls/leaf-cache.js';
import { resolveTarget } from '../upstream/client.js';
import type { Router } from './router.js';

export interface ProxyServerDeps {
  router: Router;
  leafs: LeafCache;
  isIntercepted: (host: string) => boolean;
  resolve: () => Record<string, string>;
  offline: () => boolean;
  /** Origin-form requests (`GET /simple/...`): the daemon's own index. */
  local: (req: IncomingMessage, res: ServerResponse) => void;
  log: Logger;
}

const MAX_HEADER_BYTES = 16 * 1024;
const CONNECT_TARGET = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/;

function refuse(socket: Duplex, status: number, reason: string): void {
  if (socket.destroyed) return;
  const body = `${reason}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/**
 * The HTTP proxy pip talks to. CONNECT to an intercepted host is answered by
 * terminating TLS with a leaf from the local CA and handing the decrypted
 * stream to an inner HTTP server (keep-alive: many requests per tunnel);
 * CONNECT to other hosts on 443 is a blind tunnel; other ports are refused.
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
  const forwarder = httpProxy.createProxyServer({ xfwd: false, proxyTimeout: 60_000 });
  forwarder.on('error', (err, _req, res) => {
    log.warn({ err: err.message }, 'forwarding failed');
    if (res instanceof http.ServerResponse && !res.headersSent) {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`pipcache: upstream failed: ${err.message}\n`);
    } else res.destroy();
  });

  const onClientError = (err: NodeJS.ErrnoException, socket: Duplex): void => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    log.warn({ code: err.code, status }, 'malformed request refused');
    refuse(socket, status, status === 431 ? 'request header fields too large' : 'malformed request');
  };

  const inner = http.createServer({ maxHeaderSize: MAX_HEADER_BYTES, keepAliveTimeout: 60_000 }, (req, res) => {
    const host = tunnelHost.get(req.socket as Socket) ?? '';
    let url: URL;
    try {
      url = new URL(req.url ?? '/', `https://${host}`);
    } catch {
      refuse(req.socket, 400, 'bad request target');
      return;
    }
    deps.router.handle(req, res, url);
  });
  inner.on('clientError', onClientError);

  const server = http.createServer({ maxHeaderSize: MAX_HEADER_BYTES, keepAliveTimeout: 60_000 }, (req, res) => {
    const target = req.url ?? '';
    if (target.startsWith('/')) {
      deps.local(req, res);
      return;
    }
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      res.writeHead(400, { 'content-type': 'text/plain', connection: 'close' });
      res.end('pipcache: bad request target\n');
      return;
    }
    if (url.protocol !== 'http:') {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end('pipcache: only http:// URLs can be forwarded; use CONNECT for https\n');
      return;
    }
    if (deps.isIntercepted(url.hostname)) {
      deps.router.handle(req, res, url);
      return;
    }
    if (deps.offline()) {
      log.info({ method: req.method, host: url.host, cache: 'refused', reason: 'offline' }, 'request');
      res.writeHead(403, { 'content-type': 'text/plain' });
      res.end(`pipcache is offline: not forwarding to ${url.host}\n`);
      return;
    }
    const dest = resolveTarget(deps.resolve(), url.hostname, Number(url.port) || 80);
    req.url = url.pathname + url.search;
    forwarder.web(req, res, { target: `http://${dest.host.includes(':') ? `[${dest.host}]` : dest.host}:${dest.port}` });
  });
  server.on('clientError', onClientError);

  server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const sock = socket as Socket;
    tunnels.add(sock);
    sock.on('close', () => tunnels.delete(sock));
    sock.on('error', (err) => log.debug({ err: err.message }, 'client socket error'));
    const m = CONNECT_TARGET.exec(req.url ?? '');
    if (!m) {
      log.warn({ target: req.url }, 'CONNECT refused: bad target');
      refuse(sock, 400, 'bad CONNECT target');
      return;
    }
    const host = (m[1] ?? m[2] ?? '').toLowerCase();
    const port = Number(m[3]);
    if (port !== 443) {
      log.warn({ host, port }, 'CONNECT refused: only port 443 is allowed');
      refuse(sock, 403, 'pipcache only tunnels to port 443');
      return;
    }
    if (deps.isIntercepted(host)) {
      intercept(sock, host, head);
    } else if (deps.offline()) {
      log.info({ method: 'CONNECT', host, cache: 'refused', reason: 'offline' }, 'request');
      refuse(sock, 403, `pipcache is offline: no tunnel to ${host}`);
    } else {
      tunnel(sock, host, port, head);
    }
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
        refuse(sock, 500, 'pipcache could not issue a certificate');
      },
    );
  }

  function tunnel(sock: Socket, host: string, port: number, head: Buffer): void {
    const started = performance.now();
    const dest = resolveTarget(deps.resolve(), host, port);
    const upstream = net.connect({ host: dest.host, port: dest.port });
    let bytes = 0;
    let connected = false;
    upstream.setTimeout(30_000, () => upstream.destroy(new Error('connect timeout')));
    upstream.once('connect', () => {
      connected = true;
      upstream.setTimeout(0);
      sock.write('HTTP/1.1 200 Connection established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.on('data', (d: Buffer) => (bytes += d.length));
      sock.pipe(upstream);
      upstream.pipe(sock);
    });
    upstream.on('error', (err) => {
      log.warn({ host, err: err.message }, 'tunnel failed');
      if (!connected) refuse(sock, 502, `pipcache: cannot reach ${host}: ${err.message}`);
      else sock.destroy();
    });
    sock.on('close', () => upstream.destroy());
    upstream.on('close', () => {
      sock.destroy();
      log.info({ method: 'CONNECT', host, cache: 'tunnel', bytes, ms: Math.round(performance.now() - started) }, 'request');
    });
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

function classifyTlsError(err: NodeJS.ErrnoException): { level: 'warn' | 'debug'; msg: string } {
  const text = err.message.toLowerCase();
  if (text.includes('unknown ca') || text.includes('bad certificate') || text.includes('certificate unknown')) {
    return { level: 'warn', msg: 'TLS: the client rejected our certificate (is PIP_CERT set to the pipcache bundle?)' };
  }
  if (err.code === 'ECONNRESET') return { level: 'debug', msg: 'TLS: connection reset by the client' };
  if (text.includes('timeout')) return { level: 'warn', msg: 'TLS: handshake timed out' };
  return { level: 'warn', msg: 'TLS: handshake or stream error' };
}
