import http from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import net, { type AddressInfo, type Socket } from 'node:net';
import tls from 'node:tls';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestCa } from '../fixtures/test-ca.js';

/** A loopback TCP listener that only counts who reaches it: a host pipcache must never contact. */
export interface Tripwire {
  port: number;
  readonly connections: number;
  close(): Promise<void>;
}

export async function startTripwire(): Promise<Tripwire> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = net.createServer((s) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    get connections() {
      return connections;
    },
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A plain HTTP server on loopback that records the headers of every request: an "intranet" service. */
export interface Recorder {
  port: number;
  requests: http.IncomingHttpHeaders[];
  close(): Promise<void>;
}

export async function startRecorder(): Promise<Recorder> {
  const requests: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.headers);
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 9 });
    res.end('intranet\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** An upstream index whose pages are whatever the test says (bombs, deep nesting, hostile names). */
export interface HostileIndex {
  port: number;
  /** path -> headers and body; `chunked` sends it with no Content-Length. */
  pages: Map<string, { headers: Record<string, string>; body: Buffer; chunked?: boolean }>;
  readonly requests: string[];
  close(): Promise<void>;
}

export async function startHostileIndex(ca: TestCa, hosts: string[]): Promise<HostileIndex> {
  const leaf = await ca.issue(hosts);
  const pages = new Map<string, { headers: Record<string, string>; body: Buffer; chunked?: boolean }>();
  const requests: string[] = [];
  const server = createHttpsServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => {
    requests.push(req.url ?? '');
    const page = pages.get((req.url ?? '').split('?')[0] ?? '');
    if (!page) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
      return;
    }
    if (page.chunked) {
      res.writeHead(200, { 'cache-control': 'max-age=600', ...page.headers });
      for (let at = 0; at < page.body.length; at += 64 * 1024) res.write(page.body.subarray(at, at + 64 * 1024));
      res.end();
      return;
    }
    res.writeHead(200, { 'cache-control': 'max-age=600', ...page.headers, 'content-length': page.body.length });
    res.end(page.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    pages,
    requests,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/**
 * Opens a CONNECT tunnel through the proxy to `host:443`, verifies the
 * intercepting certificate against `bundlePath`, sends `payload` raw inside
 * the TLS stream and returns what came back before the close (bounded).
 */
export async function tunnelExchange(proxyUrl: string, host: string, bundlePath: string, payload: string, timeoutMs = 5000): Promise<string> {
  const { hostname, port } = new URL(proxyUrl);
  const ca = await readFile(bundlePath, 'utf8');
  const raw = net.connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => {
    raw.once('error', reject);
    raw.once('connect', () => raw.write(`CONNECT ${host}:443 HTTP/1.1\r\nHost: ${host}:443\r\n\r\n`));
    let head = '';
    const onData = (d: Buffer): void => {
      head += d.toString('latin1');
      if (head.includes('\r\n\r\n')) {
        raw.off('data', onData);
        if (/^HTTP\/1\.[01] 200/.test(head)) resolve();
        else reject(new Error(`CONNECT refused: ${head.split('\r\n')[0]}`));
      }
    };
    raw.on('data', onData);
  });
  const secure = tls.connect({ socket: raw, servername: host, ca });
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => {
      secure.destroy();
      resolve(text);
    }, timeoutMs);
    secure.once('secureConnect', () => secure.write(payload));
    secure.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      // One response is enough: stop at the end of its body when it has a length.
      const m = /Content-Length: (\d+)/i.exec(text);
      const end = text.indexOf('\r\n\r\n');
      if (m && end !== -1 && text.length >= end + 4 + Number(m[1])) {
        clearTimeout(timer);
        secure.destroy();
        resolve(text);
      }
    });
    secure.on('error', (err) => {
      clearTimeout(timer);
      if (text) resolve(text);
      else reject(err);
    });
    secure.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
  });
}

/** Peak resident memory of a process (VmHWM), in bytes. */
export async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
  if (!kb) throw new Error(`no VmHWM for pid ${pid}`);
  return Number(kb) * 1024;
}

/** The pid of the daemon running on a home. */
export async function daemonPid(home: string): Promise<number> {
  return (JSON.parse(await readFile(join(home, 'daemon.json'), 'utf8')) as { pid: number }).pid;
}
