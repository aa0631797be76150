import { createHash } from 'node:crypto';
import { createDeflate, createGzip, type Gzip, type Deflate } from 'node:zlib';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIMPLE_V1_JSON } from '../fixtures/content-negotiation.js';
import { pythonhostedPath, renderProjectPage } from '../fixtures/simple-pages.js';
import type { TestDaemon } from '../helpers/daemon.js';
import { daemonPid, peakRss, startHostileIndex, type HostileIndex } from '../helpers/hostile.js';
import { proxyClient, rawExchange } from '../helpers/proxy-client.js';
import { createWorld, type World } from '../helpers/world.js';

/**
 * Hostile input from both sides: malformed request targets from clients,
 * and decompression bombs, oversized and deeply nested pages and hostile
 * filenames from an upstream index; then thousands of idle connections.
 * The daemon answers each with a clear error, stores nothing from it, stays
 * within its memory and keeps serving.
 */
let world: World;
let hostile: HostileIndex;
let daemon: TestDaemon;

const PAGE_LIMIT = 8 * 1024 * 1024;
const JSON_HEADERS = { 'content-type': SIMPLE_V1_JSON };

/** `bytes` zeros through a compressor, streamed: the bomb is made without holding what it expands to. */
async function bomb(bytes: number, compressor: Gzip | Deflate): Promise<Buffer> {
  const chunk = Buffer.alloc(1024 * 1024);
  const source = Readable.from(
    (function* () {
      for (let left = bytes; left > 0; left -= chunk.length) yield chunk;
    })(),
  );
  const out: Buffer[] = [];
  source.pipe(compressor);
  for await (const c of compressor) out.push(c as Buffer);
  return Buffer.concat(out);
}

function jsonPage(name: string, files: object[]): Buffer {
  return Buffer.from(JSON.stringify({ meta: { 'api-version': '1.1' }, name, files }));
}

beforeAll(async () => {
  world = await createWorld('hostile', [{ name: 'goodpkg', version: '1.0' }]);
  hostile = await startHostileIndex(world.ca, ['pypi.org']);
  const good = world.file('goodpkg', '1.0');
  const page = renderProjectPage(SIMPLE_V1_JSON, 'goodpkg', [good], (f) => `https://files.pythonhosted.org${pythonhostedPath(f)}`, 1);
  hostile.pages.set('/simple/goodpkg/', { headers: { 'content-type': page.contentType }, body: page.body });
  const home = join(world.dir, 'home');
  await mkdir(home, { recursive: true });
  await writeFile(join(home, 'config.json'), JSON.stringify({ limits: { pageBytes: '8MiB', unknownFileBytes: '1MiB', idleMs: 3000 } }));
  daemon = await world.startDaemon({ home, resolve: `pypi.org:443=127.0.0.1:${hostile.port}` });
});

afterAll(async () => {
  await world?.close();
  await hostile?.close();
});

async function stillServes(): Promise<void> {
  const client = proxyClient(daemon.address, daemon.pipEnv.PIP_CERT ?? '');
  try {
    const page = await client.get('https://pypi.org/simple/goodpkg/', { accept: SIMPLE_V1_JSON });
    expect(page.status).toBe(200);
    expect(page.body.toString()).toContain(world.file('goodpkg', '1.0').filename);
  } finally {
    await client.close();
  }
}

async function fetchPage(project: string): Promise<{ status: number; body: string }> {
  const client = proxyClient(daemon.address, daemon.pipEnv.PIP_CERT ?? '');
  try {
    const r = await client.get(`https://pypi.org/simple/${project}/`, { accept: SIMPLE_V1_JSON });
    return { status: r.status, body: r.body.toString() };
  } finally {
    await client.close();
  }
}

async function storedBlobs(): Promise<string[]> {
  const root = join(daemon.home, 'blobs');
  const out: string[] = [];
  for (const shard of await readdir(root).catch(() => [] as string[])) out.push(...(await readdir(join(root, shard))));
  return out;
}

describe('hostile input', () => {
  it('answers malformed request targets with 400 and keeps serving', async () => {
    for (const target of ['http://[::1', '*', 'http://pypi.org:99999/', '//', '///simple/goodpkg/', 'ftp://pypi.org/x', 'http://', '\x7f']) {
      const r = await rawExchange(daemon.address, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(r.text, JSON.stringify(target)).toMatch(/^HTTP\/1\.1 400/);
    }
    for (const target of [':443', 'pypi.org', 'pypi.org:443/x', '[::1:443', 'a'.repeat(300) + ':443']) {
      const r = await rawExchange(daemon.address, `CONNECT ${target} HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(r.text, target).toMatch(/^HTTP\/1\.1 (400|403)/);
    }
    const badName = await rawExchange(daemon.address, 'GET /simple/%ZZ/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(badName.text).toMatch(/^HTTP\/1\.1 400/);
    await stillServes();
  });

  it('refuses gzip and deflate bombs, and pages over the limit, without expanding them', async () => {
    hostile.pages.set('/simple/gzbomb/', { headers: { ...JSON_HEADERS, 'content-encoding': 'gzip' }, body: await bomb(256 * 1024 ** 2, createGzip({ level: 9 })) });
    hostile.pages.set('/simple/dfbomb/', { headers: { ...JSON_HEADERS, 'content-encoding': 'deflate' }, body: await bomb(256 * 1024 ** 2, createDeflate({ level: 9 })) });
    const many = Array.from({ length: 60_000 }, (_, i) => ({
      filename: `huge-${i}.0-py3-none-any.whl`,
      url: `https://files.pythonhosted.org/packages/aa/bb/${'c'.repeat(60)}/huge-${i}.0-py3-none-any.whl`,
      hashes: { sha256: 'd'.repeat(64) },
    }));
    const huge = jsonPage('huge', many);
    expect(huge.length).toBeGreaterThan(PAGE_LIMIT);
    hostile.pages.set('/simple/huge/', { headers: JSON_HEADERS, body: huge });
    for (const project of ['gzbomb', 'dfbomb', 'huge']) {
      const r = await fetchPage(project);
      expect(r.status, project).toBe(502);
    }
    // Log lines are written after each response closes: poll for them, bounded.
    const deadline = Date.now() + 5000;
    let refusals = 0;
    while (Date.now() < deadline) {
      refusals = (await daemon.logs()).filter((l) => JSON.stringify(l).includes('limits.pageBytes')).length;
      if (refusals >= 3) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(refusals).toBeGreaterThanOrEqual(3);
    // 256 MiB was never held: the daemon stayed far below it.
    expect(await peakRss(await daemonPid(daemon.home))).toBeLessThan(200 * 1024 ** 2);
    await stillServes();
  });

  it('refuses a deeply nested JSON page, and a page within the limit still parses', async () => {
    const depth = 100_000;
    hostile.pages.set('/simple/deep/', { headers: JSON_HEADERS, body: Buffer.from(`{"meta":{"api-version":"1.1"},"name":"deep","files":${'['.repeat(depth)}${']'.repeat(depth)}}`) });
    expect((await fetchPage('deep')).status).toBe(502);
    const fine = Array.from({ length: 5000 }, (_, i) => ({
      filename: `fine-${i}.0-py3-none-any.whl`,
      url: `https://files.pythonhosted.org/packages/aa/bb/${'c'.repeat(60)}/fine-${i}.0-py3-none-any.whl`,
      hashes: { sha256: 'd'.repeat(64) },
    }));
    hostile.pages.set('/simple/fine/', { headers: JSON_HEADERS, body: jsonPage('fine', fine) });
    const ok = await fetchPage('fine');
    expect(ok.status).toBe(200);
    expect((JSON.parse(ok.body) as { files: unknown[] }).files).toHaveLength(5000);
    await stillServes();
  });

  it('drops filenames with control or non-ASCII characters and files on foreign hosts; stores nothing of them', async () => {
    const sha = 'e'.repeat(64);
    const entry = (filename: string, host = 'files.pythonhosted.org') => ({
      filename,
      url: `https://${host}/packages/aa/bb/${'c'.repeat(60)}/${encodeURIComponent(filename)}`,
      hashes: { sha256: sha },
    });
    const hostileNames = [
      'names-1.0-py3-none-any.whl\u0001',
      'names-1.0\u202e-py3-none-any.whl',
      'names-1.0-py3-none-any.whl\n',
      'nämes-1.0-py3-none-any.whl',
      'names-1.0-py3-none-any.whl/../../x',
      'names-1.0-py3-none-any.\u0000whl',
    ];
    const good = 'names-1.0-py3-none-any.whl';
    hostile.pages.set('/simple/names/', {
      headers: JSON_HEADERS,
      body: jsonPage('names', [...hostileNames.map((n) => entry(n)), entry('names-2.0-py3-none-any.whl', 'evil.example'), entry(good)]),
    });
    await daemon.published(); // files of earlier tests first
    const before = await storedBlobs();
    const r = await fetchPage('names');
    expect(r.status).toBe(200);
    const listed = (JSON.parse(r.body) as { files: { filename: string }[] }).files.map((f) => f.filename);
    expect(listed).toEqual([good]);
    expect(await storedBlobs()).toEqual(before);
    await stillServes();
  });

  it('a HEAD or a Range request for an uncached file does not pull the whole file upstream', async () => {
    const f = world.file('goodpkg', '1.0');
    const url = `https://files.pythonhosted.org${pythonhostedPath(f)}`;
    world.pypi.resetCounters();
    const client = proxyClient(daemon.address, daemon.pipEnv.PIP_CERT ?? '');
    try {
      const head = await client.get(url, {}, 'HEAD');
      expect(head.status).toBe(200);
      const part = await client.get(url, { range: 'bytes=0-9' });
      expect(part.status).toBe(206);
      expect(part.body.length).toBe(10);
    } finally {
      await client.close();
    }
    await new Promise((res) => setTimeout(res, 1000));
    const fullGets = world.pypi.counters.requests.filter((r) => r.method === 'GET' && r.path.endsWith(encodeURIComponent(f.filename)) && !r.headers.range);
    expect(fullGets).toHaveLength(0);
    expect(await storedBlobs()).not.toContain(f.sha256);
  });

  it('caps an archive whose size neither upstream nor the index gives', async () => {
    const body = Buffer.alloc(3 * 1024 * 1024, 7);
    const sha = createHash('sha256').update(body).digest('hex');
    const filename = 'nosize-1.0-py3-none-any.whl';
    hostile.pages.set('/simple/nosize/', {
      headers: { 'content-type': 'text/html' },
      body: Buffer.from(`<html><body><a href="/files/${filename}#sha256=${sha}">${filename}</a></body></html>`),
    });
    hostile.pages.set(`/files/${filename}`, { headers: { 'content-type': 'application/octet-stream' }, body, chunked: true });
    const client = proxyClient(daemon.address, daemon.pipEnv.PIP_CERT ?? '');
    try {
      expect((await client.get('https://pypi.org/simple/nosize/', { accept: 'text/html' })).status).toBe(200);
      const got = await client.get(`https://pypi.org/files/${filename}`).catch((e: Error) => e);
      // Refused before or while streaming: never the whole body.
      if (!(got instanceof Error)) expect(got.status === 200 ? got.body.length : 0).toBeLessThan(body.length);
    } finally {
      await client.close();
    }
    expect(await storedBlobs()).not.toContain(sha);
    const deadline = Date.now() + 5000;
    let limited = false;
    while (!limited && Date.now() < deadline) {
      limited = (await daemon.logs()).some((l) => l.code === 'E_LIMIT' && JSON.stringify(l).includes('unknownFileBytes'));
      if (!limited) await new Promise((res) => setTimeout(res, 100));
    }
    expect(limited).toBe(true);
    await stillServes();
  });

  it('holds 2,000 idle connections, keeps serving, and closes them when idle', async () => {
    const { port } = new URL(daemon.address);
    const sockets: net.Socket[] = [];
    let closed = 0;
    // In batches, so the listen backlog never overflows (a dropped handshake
    // would leave the client believing in a connection the daemon never saw).
    for (let batch = 0; batch < 20; batch++) {
      await Promise.all(
        Array.from(
          { length: 100 },
          () =>
            new Promise<void>((resolve, reject) => {
              const s = net.connect(Number(port), '127.0.0.1', () => resolve());
              s.on('error', reject);
              s.on('close', () => closed++);
              sockets.push(s);
            }),
        ),
      );
    }
    expect(sockets).toHaveLength(2000);
    await stillServes();
    const deadline = Date.now() + 20_000;
    while (closed < sockets.length && Date.now() < deadline) await new Promise((res) => setTimeout(res, 200));
    expect(closed).toBe(sockets.length);
    await stillServes();
  });

  it('refuses connections over limits.connections with 503', async () => {
    const home = join(world.dir, 'capped');
    await mkdir(home, { recursive: true });
    await writeFile(join(home, 'config.json'), JSON.stringify({ limits: { connections: 20 } }));
    const capped = await world.startDaemon({ home });
    const { port } = new URL(capped.address);
    const held: net.Socket[] = [];
    const answers: string[] = [];
    await Promise.all(
      Array.from(
        { length: 40 },
        () =>
          new Promise<void>((resolve) => {
            const s = net.connect(Number(port), '127.0.0.1');
            let text = '';
            s.on('data', (d) => (text += d.toString()));
            s.on('error', () => resolve());
            s.on('close', () => {
              answers.push(text);
              resolve();
            });
            setTimeout(resolve, 2000);
            held.push(s);
          }),
      ),
    );
    expect(answers.filter((t) => /^HTTP\/1\.1 503/.test(t)).length).toBe(20);
    for (const s of held) s.destroy();
    expect((await capped.logs()).some((l) => l.code === 'E_LIMIT' && /limits\.connections/.test(l.msg))).toBe(true);
    await capped.stop();
  });
});
