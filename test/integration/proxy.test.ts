import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuiltFile } from '../fixtures/packages.js';
import { startPlainHttpsServer, type FakePypi, type PlainHttpsServer } from '../fixtures/fake-pypi.js';
import { pythonhostedPath } from '../fixtures/simple-pages.js';
import type { TestDaemon } from '../helpers/daemon.js';
import { proxyClient } from '../helpers/proxy-client.js';
import { createWorld, type World } from '../helpers/world.js';

let world: World;
let pypi: FakePypi;
let other: PlainHttpsServer;
let daemon: TestDaemon;

/** The wheel (or sdist) built for `project-version`. */
const byName = (id: string): BuiltFile => {
  const f = world.files.find((x) => `${x.project}-${x.version}` === id);
  if (!f) throw new Error(`no built file ${id}`);
  return f;
};
const freshVenv = (python?: string) => world.venv(python);
const archiveFetches = (): number => world.archiveFetches();

/** True when nothing of `f` is in the store: no blob under its digest, no temp file left. */
async function nothingCached(f: BuiltFile): Promise<boolean> {
  const blob = join(daemon.home, 'blobs', f.sha256.slice(0, 2), f.sha256);
  const leftovers = await readdir(join(daemon.home, 'tmp'));
  return !existsSync(blob) && leftovers.length === 0;
}

beforeAll(async () => {
  world = await createWorld(
    'proxy',
    [
      { name: 'app', version: '1.0', requires: ['liba>=1.0', 'Lib_B'] },
      { name: 'liba', version: '1.0' },
      { name: 'liba', version: '1.1' },
      { name: 'Lib_B', version: '2.0', requires: ['libc'] },
      { name: 'libc', version: '0.5', kind: 'sdist' },
      { name: 'badpkg', version: '1.0' },
      { name: 'cutpkg', version: '1.0', payloadBytes: 2_000_000 },
      { name: 'bigpkg', version: '1.0', payloadBytes: 40_000_000 },
      { name: 'tunnelled', version: '3.0' },
    ],
    { serve: (f) => f.project !== 'tunnelled' },
  );
  pypi = world.pypi;
  other = await startPlainHttpsServer(world.ca, 'other.test', world.files.filter((f) => f.project === 'tunnelled'));
  daemon = await world.startDaemon({ resolve: `other.test:443=127.0.0.1:${other.port}` });
});

afterAll(async () => {
  await world?.close();
  await other?.close();
});

describe('pip through the proxy', () => {
  it('a cold install fetches each archive upstream once', async () => {
    const venv = await freshVenv();
    const r = await venv.pip(['install', '--no-cache-dir', 'app'], daemon.pipEnv);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    for (const name of ['app-1.0', 'liba-1.1', 'lib-b-2.0', 'libc-0.5']) {
      expect(pypi.counters.files.get(byName(name).filename), name).toBe(1);
    }
    expect(pypi.counters.files.get(byName('liba-1.0').filename)).toBeUndefined();
    const check = await venv.python(['-c', 'import app, liba, lib_b, libc; print(liba.__version__)']);
    expect(check.stdout.trim()).toBe('1.1');
    // pip's own requests for the three wheels find them stored or being
    // fetched: the daemon fetched each ahead once pip had read its .metadata.
    // libc is an sdist (no .metadata): pip fetches it while resolving.
    const isArchive = (l: { msg: string; path?: string }): boolean => l.msg === 'request' && /\.(whl|tar\.gz)$/.test(l.path ?? '');
    // A request's line is written once its response ended: bounded wait for the last one.
    for (let i = 0; i < 100 && (await daemon.logs()).filter(isArchive).length < 4; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    const logs = await daemon.logs();
    const archives = logs.filter(isArchive);
    expect(archives.length).toBe(4);
    expect(archives.every((l) => l.status === 200 && (l.cache === 'miss' || l.cache === 'hit'))).toBe(true);
    const ahead = logs.filter((l) => String(l.msg).startsWith('fetching ahead')).map((l) => (l as { filename?: string }).filename);
    expect(ahead.sort()).toEqual(['app-1.0', 'liba-1.1', 'lib-b-2.0'].map((n) => byName(n).filename).sort());
  });

  it('a second install in a new venv fetches no archive and no page upstream', async () => {
    const before = archiveFetches();
    const pagesBefore = [...pypi.counters.pages.values()].reduce((a, b) => a + b, 0);
    const venv = await freshVenv();
    const r = await venv.pip(['install', '--no-cache-dir', 'app'], daemon.pipEnv);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(archiveFetches()).toBe(before);
    expect([...pypi.counters.pages.values()].reduce((a, b) => a + b, 0)).toBe(pagesBefore);
    const status = JSON.parse((await daemon.cli(['status', '--json'])).stdout) as { requests: { hits: number; bytesFromCache: number } };
    expect(status.requests.hits).toBeGreaterThanOrEqual(4);
    expect(status.requests.bytesFromCache).toBeGreaterThan(0);
  });

  it('serves an HTML-only client (pip 18.1 on Python 3.6) from the same cache', async () => {
    const venv = await freshVenv('/root/.pyenv/versions/3.6.15/bin/python3.6');
    const before = archiveFetches();
    const r = await venv.pip(['install', '--no-cache-dir', 'liba==1.1'], daemon.pipEnv);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(archiveFetches()).toBe(before);
    const htmlPages = pypi.counters.requests.filter((q) => q.path === '/simple/liba/');
    expect(htmlPages.length).toBe(1); // the JSON fetch of the first test; HTML was rendered locally
  });

  it('answers both page formats by Accept, with its own ETag and 304', async () => {
    const client = proxyClient(daemon.address, daemon.pipEnv.PIP_CERT ?? '');
    try {
      const json = await client.get('https://pypi.org/simple/liba/', { accept: 'application/vnd.pypi.simple.v1+json', 'cache-control': 'max-age=0' });
      expect(json.status).toBe(200);
      expect(json.headers['content-type']).toBe('application/vnd.pypi.simple.v1+json');
      const page = JSON.parse(json.body.toString()) as { files: { filename: string; hashes: { sha256: string } }[] };
      expect(page.files.map((f) => f.filename).sort()).toEqual([byName('liba-1.0').filename, byName('liba-1.1').filename].sort());
      expect(page.files.find((f) => f.filename === byName('liba-1.1').filename)?.hashes.sha256).toBe(byName('liba-1.1').sha256);
      const html = await client.get('https://pypi.org/simple/liba/', { accept: 'text/html', 'accept-encoding': 'gzip' });
      expect(html.headers['content-type']).toBe('text/html');
      expect(html.headers['content-encoding']).toBeUndefined();
      expect(html.body.toString()).toContain(`#sha256=${byName('liba-1.1').sha256}`);
      const again = await client.get('https://pypi.org/simple/liba/', { accept: 'text/html', 'if-none-match': String(html.headers.etag) });
      expect(again.status).toBe(304);
      const redirect = await client.get('https://pypi.org/simple/LibA/');
      expect(redirect.status).toBe(301);
      expect(redirect.headers.location).toBe('/simple/liba/');
    } finally {
      await client.close();
    }
  });

  it('serves cached files with Content-Length, ETag, Date and ranges', async () => {
    const client = proxyClient(daemon.address, daemon.pipEnv.PIP_CERT ?? '');
    const f = byName('liba-1.1');
    const url = `https://files.pythonhosted.org/${pypiPath(f)}`;
    try {
      const full = await client.get(url, { 'accept-encoding': 'identity' });
      expect(full.status).toBe(200);
      expect(Number(full.headers['content-length'])).toBe(f.size);
      expect(full.headers.etag).toBe(`"${f.sha256}"`);
      expect(full.headers.date).toBeTruthy();
      expect(full.headers['accept-ranges']).toBe('bytes');
      const part = await client.get(url, { range: 'bytes=10-19' });
      expect(part.status).toBe(206);
      expect(part.headers['content-range']).toBe(`bytes 10-19/${f.size}`);
      expect(part.body.equals(full.body.subarray(10, 20))).toBe(true);
      const wrongIfRange = await client.get(url, { range: 'bytes=10-19', 'if-range': '"other"' });
      expect(wrongIfRange.status).toBe(200);
      const head = await client.get(url, {}, 'HEAD');
      expect(Number(head.headers['content-length'])).toBe(f.size);
      const beyond = await client.get(url, { range: `bytes=${f.size}-` });
      expect(beyond.status).toBe(416);
    } finally {
      await client.close();
    }
  });

  it('a corrupt upstream body fails the install, caches nothing, and the next try succeeds', async () => {
    const f = byName('badpkg-1.0');
    pypi.faults.corrupt.add(f.filename);
    const venv = await freshVenv();
    const bad = await venv.pip(['install', '--no-cache-dir', 'badpkg'], daemon.pipEnv);
    expect(bad.code).not.toBe(0);
    expect(await nothingCached(f)).toBe(true);
    const ls = JSON.parse((await daemon.cli(['ls', 'badpkg', '--json'])).stdout) as { files: { stored: boolean }[] };
    expect(ls.files.every((x) => !x.stored)).toBe(true);
    const logs = await daemon.logs();
    expect(logs.some((l) => l.code === 'E_HASH_MISMATCH')).toBe(true);
    pypi.faults.corrupt.delete(f.filename);
    const good = await venv.pip(['install', '--no-cache-dir', 'badpkg'], daemon.pipEnv);
    expect(good.code, good.stderr).toBe(0);
    expect(existsSync(join(daemon.home, 'blobs', f.sha256.slice(0, 2), f.sha256))).toBe(true);
    expect(pypi.counters.files.get(f.filename)).toBeGreaterThanOrEqual(2);
  });

  it('a cut-off upstream body fails the install, caches nothing, and the next try succeeds', async () => {
    const f = byName('cutpkg-1.0');
    pypi.faults.truncate.add(f.filename);
    const venv = await freshVenv();
    const bad = await venv.pip(['install', '--no-cache-dir', '--retries', '0', 'cutpkg'], daemon.pipEnv);
    expect(bad.code).not.toBe(0);
    expect(await nothingCached(f)).toBe(true);
    const logs = await daemon.logs();
    expect(logs.some((l) => l.code === 'E_TRUNCATED' || (l.msg?.includes('discarded') && String(l.url).endsWith(f.filename)))).toBe(true);
    pypi.faults.truncate.delete(f.filename);
    const good = await venv.pip(['install', '--no-cache-dir', 'cutpkg'], daemon.pipEnv);
    expect(good.code, good.stderr).toBe(0);
    const check = await venv.python(['-c', 'import cutpkg']);
    expect(check.code).toBe(0);
  });

  it('parallel requests for one file share a single upstream download', async () => {
    const f = byName('bigpkg-1.0');
    const clients = [0, 1, 2].map(() => proxyClient(daemon.address, daemon.pipEnv.PIP_CERT ?? ''));
    try {
      // The page first, so the file URL is known.
      await clients[0]?.get('https://pypi.org/simple/bigpkg/', { accept: 'application/vnd.pypi.simple.v1+json' });
      const url = `https://files.pythonhosted.org/${pypiPath(f)}`;
      const bodies = await Promise.all(clients.map((c) => c.get(url)));
      for (const b of bodies) {
        expect(b.status).toBe(200);
        expect(b.body.length).toBe(f.size);
      }
      expect(pypi.counters.files.get(f.filename)).toBe(1);
      const [v1, v2] = await Promise.all([freshVenv(), freshVenv()]);
      const installs = await Promise.all([v1, v2].map((v) => v.pip(['install', '--no-cache-dir', 'bigpkg'], daemon.pipEnv)));
      for (const r of installs) expect(r.code, r.stderr).toBe(0);
      expect(pypi.counters.files.get(f.filename)).toBe(1);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });

  it('tunnels a host it does not intercept', async () => {
    const venv = await freshVenv();
    const r = await venv.pip(['install', '--no-cache-dir', '--index-url', 'https://other.test/simple/', 'tunnelled'], daemon.pipEnv);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(await daemon.logged((l) => l.method === 'CONNECT' && l.host === 'other.test' && l.cache === 'tunnel')).toBe(true);
  });
});

function pypiPath(f: BuiltFile): string {
  return pythonhostedPath(f).replace(/^\//, '');
}
