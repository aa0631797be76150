import { readdir, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakePypi } from '../fixtures/fake-pypi.js';
import type { TestDaemon } from '../helpers/daemon.js';
import { proxyClient, rawExchange } from '../helpers/proxy-client.js';
import { createWorld, type World } from '../helpers/world.js';

let world: World;
let pypi: FakePypi;
let daemon: TestDaemon;

beforeAll(async () => {
  world = await createWorld('bad', [{ name: 'okpkg', version: '1.0' }]);
  pypi = world.pypi;
  daemon = await world.startDaemon();
});

afterAll(async () => {
  await world?.close();
});

async function stillServes(): Promise<void> {
  const st = await daemon.cli(['status', '--json']);
  expect(st.code).toBe(0);
  const client = proxyClient(daemon.address, daemon.pipEnv.PIP_CERT ?? '');
  try {
    const page = await client.get('https://pypi.org/simple/okpkg/');
    expect(page.status).toBe(200);
  } finally {
    await client.close();
  }
}

async function walk(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(root, { withFileTypes: true })) {
    const p = join(root, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out;
}

describe('bad input', () => {
  it('answers a malformed request with 400 and closes the connection', async () => {
    const r = await rawExchange(daemon.address, 'GARBAGE \x01\x02 nonsense\r\n\r\n');
    expect(r.text).toMatch(/^HTTP\/1\.1 400/);
    expect(r.closed).toBe(true);
    await stillServes();
  });

  it('answers oversized headers with 431', async () => {
    const r = await rawExchange(daemon.address, `GET http://pypi.org/simple/ HTTP/1.1\r\nHost: pypi.org\r\nX-Big: ${'a'.repeat(40_000)}\r\n\r\n`);
    expect(r.text).toMatch(/^HTTP\/1\.1 431/);
    expect(r.closed).toBe(true);
    await stillServes();
  });

  it('refuses CONNECT to ports other than 443 and bad CONNECT targets', async () => {
    const port = await rawExchange(daemon.address, 'CONNECT pypi.org:22 HTTP/1.1\r\nHost: pypi.org:22\r\n\r\n');
    expect(port.text).toMatch(/^HTTP\/1\.1 403/);
    const target = await rawExchange(daemon.address, 'CONNECT not a target HTTP/1.1\r\n\r\n');
    expect(target.text).toMatch(/^HTTP\/1\.1 400/);
    const slashes = await rawExchange(daemon.address, 'CONNECT ../../etc:443 HTTP/1.1\r\n\r\n');
    expect(slashes.text).toMatch(/^HTTP\/1\.1 400/);
    await stillServes();
  });

  it('accepts an HTTP/1.0 CONNECT without Host, sent line by line (Python < 3.12)', async () => {
    const { hostname, port } = new URL(daemon.address);
    const net = await import('node:net');
    const text = await new Promise<string>((resolve, reject) => {
      const s = net.connect(Number(port), hostname, async () => {
        for (const part of ['CONNECT pypi.org:443 HTTP/1.0\r\n', '\r\n']) {
          s.write(part);
          await new Promise((r) => setTimeout(r, 30));
        }
      });
      let got = '';
      s.on('data', (d) => {
        got += d.toString('latin1');
        if (got.includes('\r\n\r\n')) {
          s.destroy();
          resolve(got);
        }
      });
      s.on('error', reject);
      setTimeout(() => {
        s.destroy();
        resolve(got);
      }, 5000);
    });
    expect(text).toMatch(/^HTTP\/1\.[01] 200/);
  });

  it('never writes a hostile filename from an index page, and keeps serving', async () => {
    const sha = 'a'.repeat(64);
    const hostile = ['../../../../tmp/pipcache-evil-1.0.tar.gz', '..', '.hidden-1.0.tar.gz', 'evil\u0000-1.0.tar.gz', 'C:\\evil-1.0.zip'];
    const anchors = hostile
      .map((name) => `<a href="https://files.pythonhosted.org/packages/${encodeURIComponent(name)}#sha256=${sha}">${name.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</a>`)
      .join('\n');
    pypi.faults.rawPages.set('evil', { contentType: 'text/html', body: `<html><body>${anchors}<a href="javascript:alert(1)">evil-2.0.tar.gz</a></body></html>` });
    const client = proxyClient(daemon.address, daemon.pipEnv.PIP_CERT ?? '');
    try {
      const page = await client.get('https://pypi.org/simple/evil/', { accept: 'text/html' });
      expect(page.status).toBe(200);
      const body = page.body.toString();
      expect(body).not.toContain('pipcache-evil');
      expect(body).not.toContain('javascript:');
      for (const name of hostile) {
        const r = await client.get(`https://files.pythonhosted.org/packages/${encodeURIComponent(name)}`);
        expect(r.status).toBe(404);
      }
    } finally {
      await client.close();
    }
    expect(existsSync('/tmp/pipcache-evil-1.0.tar.gz')).toBe(false);
    for (const p of await walk(join(daemon.home, 'blobs'))) expect(p).toMatch(/\/blobs\/[0-9a-f]{2}\/[0-9a-f]{64}$/);
    const logs = await daemon.logs();
    expect(logs.some((l) => l.msg === 'index page entries rejected')).toBe(true);
    await stillServes();
  });

  it('answers 502 for an upstream page that does not parse, and keeps serving', async () => {
    pypi.faults.rawPages.set('broken', { contentType: 'application/vnd.pypi.simple.v1+json', body: '{"meta": {"api-version": "1.1"}, "files": [' });
    const client = proxyClient(daemon.address, daemon.pipEnv.PIP_CERT ?? '');
    try {
      const page = await client.get('https://pypi.org/simple/broken/', { accept: 'application/vnd.pypi.simple.v1+json' });
      expect(page.status).toBe(502);
      expect(page.body.toString()).toMatch(/pipcache: .*broken/);
    } finally {
      await client.close();
    }
    await stillServes();
    expect((await stat(join(daemon.home, 'tmp'))).isDirectory()).toBe(true);
  });

  it('does not take an answer that is not an index page (a captive portal) for one', async () => {
    pypi.faults.rawPages.set('portal', { contentType: 'text/plain', body: 'please log in to the wifi' });
    const client = proxyClient(daemon.address, daemon.pipEnv.PIP_CERT ?? '');
    try {
      const page = await client.get('https://pypi.org/simple/portal/', { accept: 'text/html' });
      expect(page.status).toBe(502);
      expect(page.body.toString()).toContain('Content-Type');
    } finally {
      await client.close();
    }
  });

  it('tells a client that is not using it as a proxy what to do', async () => {
    const r = await rawExchange(daemon.address, 'GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(r.text).toMatch(/^HTTP\/1\.1 404/);
    expect(r.text).toContain('/simple/');
  });
});
