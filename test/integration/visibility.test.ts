import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import type { BuiltFile } from '../fixtures/packages.js';
import { pythonhostedPath } from '../fixtures/simple-pages.js';
import type { TestDaemon } from '../helpers/daemon.js';
import { proxyClient, rawExchange } from '../helpers/proxy-client.js';
import { createWorld, type World } from '../helpers/world.js';

/**
 * What an operator sees from outside: the `X-Pipcache` header on every
 * answer, the Prometheus text at `/-/metrics` moving with real pip traffic,
 * `/-/health`, and both endpoints closed to clients the proxy refuses.
 */
let world: World;
let daemon: TestDaemon;
let client: ReturnType<typeof proxyClient>;

beforeAll(async () => {
  world = await createWorld('visibility', [
    { name: 'seen', version: '1.0' },
    { name: 'counted', version: '1.0', payloadBytes: 50_000 },
    { name: 'neverfetched', version: '1.0' },
  ]);
  daemon = await world.startDaemon();
  client = proxyClient(daemon.address, daemon.pipEnv.PIP_CERT ?? '');
});

afterAll(async () => {
  await client?.close();
  await world?.close();
});

const fileUrl = (f: BuiltFile): string => `https://files.pythonhosted.org${pythonhostedPath(f)}`;

/** A plain GET to the daemon itself (index mode's listener), bounded. */
async function local(path: string, base = daemon.address, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  const u = new URL(base);
  const res = await request(`${u.protocol}//${u.host}${path}`, { headers, headersTimeout: 10_000, bodyTimeout: 10_000 });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

/** The samples of a Prometheus text exposition, checked line by line against the format. */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      expect(line, 'a comment line').toMatch(/^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* /);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    expect(m, `a sample line: ${line}`).not.toBeNull();
    samples.set(m?.[1] ?? '', Number(m?.[2]));
  }
  return samples;
}

async function scrape(): Promise<Map<string, number>> {
  const r = await local('/-/metrics');
  expect(r.status).toBe(200);
  expect(String(r.headers['content-type'])).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseMetrics(r.text);
}

describe('the X-Pipcache header', () => {
  it('says miss, then hit, for a page and a file fetched through the proxy', async () => {
    const f = world.file('seen', '1.0');
    const page1 = await client.get('https://pypi.org/simple/seen/');
    expect(page1.status).toBe(200);
    expect(page1.headers['x-pipcache']).toBe('miss');
    const page2 = await client.get('https://pypi.org/simple/seen/');
    expect(page2.headers['x-pipcache']).toBe('hit');
    const file1 = await client.get(fileUrl(f));
    expect(file1.status).toBe(200);
    expect(file1.headers['x-pipcache']).toBe('miss');
    const file2 = await client.get(fileUrl(f));
    expect(file2.headers['x-pipcache']).toBe('hit');
    const notModified = await client.get(fileUrl(f), { 'if-none-match': `"${f.sha256}"` });
    expect(notModified.status).toBe(304);
    expect(notModified.headers['x-pipcache']).toBe('hit');
  });

  it('says bypass for what is passed through, refused for what is not served, and hit in index mode', async () => {
    const other = await client.get('https://pypi.org/pypi/seen/json');
    expect(other.headers['x-pipcache']).toBe('bypass');
    const redirect = await client.get('https://pypi.org/simple/Seen/');
    expect(redirect.status).toBe(301);
    expect(redirect.headers['x-pipcache']).toBe('redirect');
    const index = await local('/simple/seen/');
    expect(index.status).toBe(200);
    expect(index.headers['x-pipcache']).toBe('hit');
    const missing = await local('/files/nothing/1.0/nothing-1.0.tar.gz');
    expect(missing.status).toBe(404);
    expect(missing.headers['x-pipcache']).toBe('refused');
  });

  it('says offline for what the cache cannot serve offline, and hit for what it holds', async () => {
    expect((await client.get('https://pypi.org/simple/neverfetched/')).status).toBe(200);
    expect((await daemon.cli(['offline', 'on'])).code).toBe(0);
    try {
      const page = await client.get('https://pypi.org/simple/seen/');
      expect(page.status).toBe(200);
      expect(page.headers['x-pipcache']).toBe('offline');
      const held = await client.get(fileUrl(world.file('seen', '1.0')));
      expect(held.status).toBe(200);
      expect(held.headers['x-pipcache']).toBe('hit');
      const notHeld = await client.get(fileUrl(world.file('neverfetched', '1.0')));
      expect(notHeld.status).toBe(503);
      expect(notHeld.headers['x-pipcache']).toBe('offline');
      const health = await local('/-/health');
      expect(JSON.parse(health.text)).toMatchObject({ status: 'ok', offline: true, mode: 'offline' });
    } finally {
      expect((await daemon.cli(['offline', 'off'])).code).toBe(0);
    }
  });
});

describe('/-/metrics and /-/health', () => {
  it('answers health with 200, the version and the offline state', async () => {
    const r = await local('/-/health');
    expect(r.status).toBe(200);
    const body = JSON.parse(r.text) as { status: string; version: string; offline: boolean };
    expect(body).toMatchObject({ status: 'ok', offline: false, mode: 'online' });
    expect(body.version).toMatch(/^\d+\.\d+\.\d+/);
    expect((await local('/-/health')).headers['cache-control']).toBe('no-store');
  });

  it('moves with a real pip install: requests, bytes from upstream, upstream timings, store size', async () => {
    const before = await scrape();
    for (const series of ['pipcache_downloads_in_flight', 'pipcache_store_bytes', 'pipcache_evictions_total', 'pipcache_evicted_bytes_total']) {
      expect(before.has(series), series).toBe(true);
    }
    const venv = await world.venv();
    const r = await venv.pip(['install', '--no-cache-dir', 'counted'], daemon.pipEnv);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const after = await scrape();
    const delta = (s: string): number => (after.get(s) ?? 0) - (before.get(s) ?? 0);
    expect(delta('pipcache_requests_total{outcome="miss"}')).toBeGreaterThanOrEqual(2);
    // The wheel came from upstream once: to pip directly, or fetched ahead when pip read
    // its metadata (then pip's own request was a hit or joined that download).
    const wheel = world.file('counted', '1.0').size;
    expect(delta('pipcache_fetched_bytes_total{source="upstream"}')).toBeGreaterThanOrEqual(wheel);
    expect(delta('pipcache_response_bytes_total{source="upstream"}') + delta('pipcache_response_bytes_total{source="cache"}')).toBeGreaterThanOrEqual(wheel);
    expect(delta('pipcache_upstream_response_seconds_count{kind="page"}')).toBeGreaterThanOrEqual(1);
    expect(delta('pipcache_upstream_response_seconds_count{kind="file"}')).toBeGreaterThanOrEqual(1);
    expect(after.get('pipcache_downloads_in_flight')).toBe(0);
    // The store size is recomputed at most every few seconds after a change: wait for it, bounded.
    const deadline = Date.now() + 15_000;
    let stored = after.get('pipcache_store_bytes') ?? 0;
    while (stored < world.file('counted', '1.0').size && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 500));
      stored = (await scrape()).get('pipcache_store_bytes') ?? 0;
    }
    expect(stored).toBeGreaterThanOrEqual(world.file('counted', '1.0').size);

    // The same install again is served from the cache.
    const again = await venv.pip(['install', '--no-cache-dir', '--force-reinstall', '--no-deps', 'counted'], daemon.pipEnv);
    expect(again.code, again.stderr + again.stdout).toBe(0);
    const warm = await scrape();
    expect((warm.get('pipcache_requests_total{outcome="hit"}') ?? 0) - (after.get('pipcache_requests_total{outcome="hit"}') ?? 0)).toBeGreaterThanOrEqual(1);
    expect((warm.get('pipcache_response_bytes_total{source="cache"}') ?? 0) - (after.get('pipcache_response_bytes_total{source="cache"}') ?? 0)).toBeGreaterThanOrEqual(
      world.file('counted', '1.0').size,
    );
  }, 240_000);
});

describe('who may read them', () => {
  async function homeWith(name: string, config: object): Promise<string> {
    const home = join(world.dir, name);
    await mkdir(home, { recursive: true });
    await writeFile(join(home, 'config.json'), JSON.stringify(config));
    return home;
  }

  it('refuses clients outside allow', async () => {
    const outside = await world.startDaemon({ home: await homeWith('allow-only-10', { allow: ['10.0.0.0/8'] }) });
    for (const path of ['/-/metrics', '/-/health']) {
      const r = await rawExchange(outside.address, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(r.text, path).toMatch(/^HTTP\/1\.1 403/);
      expect(r.text, path).not.toMatch(/pipcache_|"status"/);
    }
    await outside.stop();
  });

  it('with auth, asks for the token and answers with it', async () => {
    const home = await homeWith('auth', { auth: true });
    const authed = await world.startDaemon({ home });
    const token = (await readFile(join(home, 'auth-token'), 'utf8')).trim();
    const bare = `http://${new URL(authed.address).host}`;
    for (const path of ['/-/metrics', '/-/health']) {
      const none = await local(path, bare);
      expect(none.status, path).toBe(401);
      expect(none.headers['www-authenticate']).toMatch(/^Basic/);
      const wrong = await local(path, bare, { authorization: `Basic ${Buffer.from('pipcache:0000').toString('base64')}` });
      expect(wrong.status, path).toBe(401);
      const right = await local(path, bare, { authorization: `Basic ${Buffer.from(`pipcache:${token}`).toString('base64')}` });
      expect(right.status, path).toBe(200);
    }
    await authed.stop();
  });
});
