import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Monitoring } from './monitoring.js';

let stopping = false;
let server: http.Server;
let base: string;

beforeAll(async () => {
  const monitoring = new Monitoring({
    metrics: { text: () => Promise.resolve('pipcache_up 1\n'), contentType: 'text/plain; version=0.0.4; charset=utf-8' },
    version: '1.2.3',
    isOffline: () => true,
    mode: () => 'offline',
    isStopping: () => stopping,
    log: pino({ level: 'silent' }),
  });
  server = http.createServer((req, res) => {
    if (!monitoring.handle(req, res)) res.writeHead(418).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('Monitoring', () => {
  it('answers health with 200 and the offline state and version, then 503 while stopping', async () => {
    stopping = false;
    const ok = await fetch(`${base}/-/health`, { signal: AbortSignal.timeout(5000) });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ status: 'ok', version: '1.2.3', offline: true, mode: 'offline' });
    stopping = true;
    const down = await fetch(`${base}/-/health`, { signal: AbortSignal.timeout(5000) });
    expect(down.status).toBe(503);
    expect(((await down.json()) as { status: string }).status).toBe('stopping');
    stopping = false;
  });

  it('serves the metrics text, refuses other methods, and leaves other paths alone', async () => {
    const m = await fetch(`${base}/-/metrics?x=1`, { signal: AbortSignal.timeout(5000) });
    expect(m.status).toBe(200);
    expect(m.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await m.text()).toBe('pipcache_up 1\n');
    const post = await fetch(`${base}/-/metrics`, { method: 'POST', signal: AbortSignal.timeout(5000) });
    expect(post.status).toBe(405);
    expect((await fetch(`${base}/simple/`, { signal: AbortSignal.timeout(5000) })).status).toBe(418);
  });
});
