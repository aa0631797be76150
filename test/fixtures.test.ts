import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectPageType } from './fixtures/content-negotiation.js';
import { PIP_RESOLVE_SHIM, startFakePypi, startPlainHttpsServer, type FakePypi } from './fixtures/fake-pypi.js';
import { httpsGet, type HttpsGetResult } from './fixtures/https-get.js';
import { buildPackages, bundledWheels, describeFile, type BuiltFile } from './fixtures/packages.js';
import { createTestCa, type TestCa } from './fixtures/test-ca.js';
import { assertOk, run } from './helpers/proc.js';
import { createVenv, type Venv } from './helpers/venv.js';

const PIP_ACCEPT = 'application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01';

let work: string;
let ca: TestCa;
let built: BuiltFile[];
let pypi: FakePypi;
let venv: Venv;

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const file = (filename: string): BuiltFile => {
  const f = built.find((b) => b.filename === filename);
  if (!f) throw new Error(`not built: ${filename}`);
  return f;
};
const page = (path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<HttpsGetResult> =>
  httpsGet({ port: pypi.port, host: 'pypi.org', path, headers, ca: ca.certPem, method });
const files = (path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<HttpsGetResult> =>
  httpsGet({ port: pypi.port, host: 'files.pythonhosted.org', path, headers, ca: ca.certPem, method });
const hrefPath = (url: string): string => new URL(url).pathname;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'pipcache-fixtures-'));
  ca = await createTestCa(join(work, 'ca'));
  const venvReady = createVenv(join(work, 'venv'));
  built = await buildPackages(
    [
      {
        name: 'Foo_Bar',
        version: '1.0',
        requires: ['bar>=1.0', 'baz-sdist; extra == "fast"'],
        extras: ['fast'],
        requiresPython: '>=3.7',
      },
      { name: 'bar', version: '1.1', payloadBytes: 100_000 },
      { name: 'Baz.Sdist', version: '0.3', kind: 'sdist' },
    ],
    join(work, 'dist'),
  );
  pypi = await startFakePypi({ ca, files: built });
  venv = await venvReady;
});

afterAll(async () => {
  await pypi?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('packages', () => {
  it('builds wheels with PEP 658 metadata and sdists', async () => {
    expect(built.map((b) => b.filename).sort()).toEqual([
      'Foo_Bar-1.0-py3-none-any.whl',
      'bar-1.1-py3-none-any.whl',
      'baz_sdist-0.3.tar.gz',
    ]);
    const foo = file('Foo_Bar-1.0-py3-none-any.whl');
    expect(foo).toMatchObject({ project: 'foo-bar', kind: 'wheel', requiresPython: '>=3.7' });
    const meta = await readFile(foo.metadata!.path, 'utf8');
    expect(meta).toContain('Requires-Dist: baz-sdist; extra == "fast"');
    expect(sha256(Buffer.from(meta))).toBe(foo.metadata!.sha256);
    expect(file('baz_sdist-0.3.tar.gz')).toMatchObject({ project: 'baz-sdist', kind: 'sdist' });
    expect(file('baz_sdist-0.3.tar.gz').metadata).toBeUndefined();
    expect(file('bar-1.1-py3-none-any.whl').size).toBeGreaterThan(100_000);
  });

  it('describes bundled ensurepip wheels', async () => {
    const wheels = bundledWheels();
    const pip = wheels.find((w) => /\/pip-[^/]+\.whl$/.test(w));
    expect(pip).toBeDefined();
    const d = await describeFile(pip!, undefined, join(work, 'bundled-meta'));
    expect(d).toMatchObject({ project: 'pip', kind: 'wheel' });
    expect(d.requiresPython).toMatch(/^>=3\./);
    expect(sha256(await readFile(pip!))).toBe(d.sha256);
    expect(await readFile(d.metadata!.path, 'utf8')).toMatch(/^Metadata-Version: /);
  });

  it('installs with real pip from a local dir, building the sdist via the in-tree backend', async () => {
    const dist = join(work, 'dist');
    assertOk('pip install', await venv.pip(['install', '--no-index', '--find-links', dist, 'foo-bar[fast]']));
    const r = assertOk(
      'import',
      await venv.python(['-c', 'import foo_bar, bar, baz_sdist; print(foo_bar.__version__, bar.__version__, baz_sdist.__version__)']),
    );
    expect(r.stdout.trim()).toBe('1.0 1.1 0.3');
  });
});

describe('fake PyPI', () => {
  it('serves PEP 503 HTML whose links hash-match the served files and metadata', async () => {
    const r = await page('/simple/foo-bar/', { Accept: 'text/html' });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    const html = r.body.toString('utf8');
    const m = /<a href="([^"]+)#sha256=([0-9a-f]{64})" data-requires-python="&gt;=3.7" data-dist-info-metadata="sha256=([0-9a-f]{64})" data-core-metadata="sha256=\3">Foo_Bar-1.0-py3-none-any.whl<\/a>/.exec(html);
    expect(m, html).not.toBeNull();
    const [, url, hash, metaHash] = m as unknown as [string, string, string, string];
    expect(url).toMatch(/^https:\/\/files\.pythonhosted\.org\/packages\/[0-9a-f]{2}\/[0-9a-f]{2}\/[0-9a-f]+\/Foo_Bar-1\.0-py3-none-any\.whl$/);
    const body = await files(hrefPath(url));
    expect(body.status).toBe(200);
    expect(body.headers['cache-control']).toBe('max-age=365000000, immutable, public');
    expect(body.headers['content-type']).toBe('application/octet-stream');
    expect(sha256(body.body)).toBe(hash);
    const meta = await files(`${hrefPath(url)}.metadata`);
    expect(sha256(meta.body)).toBe(metaHash);
    expect(pypi.counters.files.get('Foo_Bar-1.0-py3-none-any.whl')).toBeGreaterThanOrEqual(1);
    expect(pypi.counters.metadata.get('Foo_Bar-1.0-py3-none-any.whl')).toBeGreaterThanOrEqual(1);
  });

  it('serves PEP 691 JSON to pip and negotiates like Warehouse', async () => {
    const r = await page('/simple/bar/', { Accept: PIP_ACCEPT });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/vnd.pypi.simple.v1+json');
    expect(r.headers['cache-control']).toBe('max-age=600, public');
    expect(r.headers.vary).toBe('Accept, Accept-Encoding');
    expect(r.headers.etag).toMatch(/^"[0-9a-f]+"$/);
    const doc = JSON.parse(r.body.toString('utf8')) as {
      meta: Record<string, unknown>;
      name: string;
      versions: string[];
      files: { filename: string; url: string; hashes: { sha256: string }; size: number; 'core-metadata': unknown }[];
    };
    expect(doc.meta['api-version']).toBe('1.1');
    expect(String(doc.meta['_last-serial'])).toBe(r.headers['x-pypi-last-serial']);
    expect(doc.name).toBe('bar');
    expect(doc.versions).toEqual(['1.1']);
    const f = doc.files[0]!;
    const served = await files(hrefPath(f.url));
    expect(sha256(served.body)).toBe(f.hashes.sha256);
    expect(served.body.length).toBe(f.size);
    expect(f['core-metadata']).toEqual({ sha256: file(f.filename).metadata!.sha256 });

    expect((await page('/simple/bar/')).headers['content-type']).toBe('text/html; charset=utf-8');
    expect((await page('/simple/bar/', { Accept: '*/*' })).headers['content-type']).toBe('text/html; charset=utf-8');
    expect(selectPageType('application/vnd.pypi.simple.v1+json;q=0.5, text/html;q=0.4', 'both')).toBe(
      'application/vnd.pypi.simple.v1+json',
    );
    expect(selectPageType('application/*', 'both')).toBe('application/vnd.pypi.simple.v1+html');
    expect(selectPageType('application/json', 'both')).toBe('text/html');
    expect(selectPageType('text/html', 'json')).toBeNull();
  });

  it('redirects non-normalized names, 404s unknown projects, answers 304', async () => {
    for (const path of ['/simple/Foo_Bar/', '/simple/foo.bar/', '/simple/foo-bar']) {
      const r = await page(path);
      expect([r.status, r.headers.location], path).toEqual([301, '/simple/foo-bar/']);
    }
    expect((await page('/simple/nope/')).status).toBe(404);
    expect((await page('/nope')).status).toBe(404);

    pypi.resetCounters();
    const first = await page('/simple/foo-bar/', { Accept: PIP_ACCEPT });
    const again = await page('/simple/foo-bar/', { Accept: PIP_ACCEPT, 'If-None-Match': first.headers.etag! });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    expect(again.headers.etag).toBe(first.headers.etag);
    expect(pypi.counters.pages.get('foo-bar')).toBe(2);
    expect(pypi.counters.connections).toBe(2);
    expect(pypi.counters.requests.map((q) => [q.host, q.path, q.status])).toEqual([
      ['pypi.org', '/simple/foo-bar/', 200],
      ['pypi.org', '/simple/foo-bar/', 304],
    ]);
  });

  it('gzips pages when accepted', async () => {
    const plain = await page('/simple/foo-bar/', { Accept: PIP_ACCEPT });
    const gz = await page('/simple/foo-bar/', { Accept: PIP_ACCEPT, 'Accept-Encoding': 'gzip, deflate' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.body).equals(plain.body)).toBe(true);
    pypi.faults.gzipPages = false;
    try {
      const off = await page('/simple/foo-bar/', { Accept: PIP_ACCEPT, 'Accept-Encoding': 'gzip' });
      expect(off.headers['content-encoding']).toBeUndefined();
    } finally {
      pypi.faults.gzipPages = true;
    }
  });

  it('supports Range, HEAD and 416 on files', async () => {
    const bar = file('bar-1.1-py3-none-any.whl');
    const path = hrefPath(await fileUrl('bar', bar.filename));
    const whole = await readFile(bar.path);
    const part = await files(path, { Range: 'bytes=10-19' });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 10-19/${bar.size}`);
    expect(part.body.equals(whole.subarray(10, 20))).toBe(true);
    const tail = await files(path, { Range: 'bytes=-5' });
    expect(tail.body.equals(whole.subarray(-5))).toBe(true);
    const head = await files(path, {}, 'HEAD');
    expect([head.status, head.headers['content-length'], head.body.length]).toEqual([200, String(bar.size), 0]);
    expect((await files(path, { Range: `bytes=${bar.size}-` })).status).toBe(416);
  });

  it('applies faults', async () => {
    const bar = file('bar-1.1-py3-none-any.whl');
    const path = hrefPath(await fileUrl('bar', bar.filename));
    const whole = await readFile(bar.path);
    try {
      pypi.faults.corrupt.add(bar.filename);
      const corrupt = await files(path);
      expect(corrupt.body.length).toBe(whole.length);
      const diffs = [...whole].filter((b, i) => corrupt.body[i] !== b).length;
      expect(diffs).toBe(1);
      pypi.faults.corrupt.clear();

      pypi.faults.truncate.add(bar.filename);
      const truncated = await files(path);
      expect(truncated.headers['content-length']).toBe(String(bar.size));
      expect(truncated.complete).toBe(false);
      expect(truncated.body.length).toBeGreaterThan(0);
      expect(truncated.body.length).toBeLessThan(bar.size);
      pypi.faults.truncate.clear();

      pypi.faults.failFiles.add(bar.filename);
      expect((await files(path)).status).toBe(500);
      pypi.faults.failFiles.clear();

      const before = await page('/simple/bar/', { Accept: PIP_ACCEPT });
      pypi.faults.hidden.add(bar.filename);
      const after = await page('/simple/bar/', { Accept: PIP_ACCEPT });
      expect(after.body.toString()).not.toContain(bar.filename);
      expect(after.headers.etag).not.toBe(before.headers.etag);
      expect(Number(after.headers['x-pypi-last-serial'])).toBeGreaterThan(Number(before.headers['x-pypi-last-serial']));
      expect((await page('/simple/bar/', { 'If-None-Match': before.headers.etag! })).status).toBe(200);
      expect((await files(path)).status).toBe(404);
      pypi.faults.hidden.clear();

      pypi.faults.pageStatus = 503;
      expect((await page('/simple/bar/')).status).toBe(503);
      delete pypi.faults.pageStatus;

      pypi.faults.formats = 'json';
      expect((await page('/simple/bar/', { Accept: 'text/html' })).status).toBe(406);
      expect((await page('/simple/bar/')).headers['content-type']).toBe('application/vnd.pypi.simple.v1+json');
      pypi.faults.formats = 'both';

      pypi.faults.pageDelayMs = 300;
      const t0 = Date.now();
      await page('/simple/bar/');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    } finally {
      for (const s of [pypi.faults.corrupt, pypi.faults.truncate, pypi.faults.failFiles, pypi.faults.hidden]) s.clear();
      delete pypi.faults.pageStatus;
      delete pypi.faults.pageDelayMs;
      pypi.faults.formats = 'both';
    }
    expect(pypi.errors).toEqual([]);
  });

  it('real pip installs from it directly (getaddrinfo shim), using PEP 658 metadata', async () => {
    pypi.resetCounters();
    const target = join(work, 'target');
    const r = await venv.python(
      [PIP_RESOLVE_SHIM, 'install', '--no-cache-dir', '--cert', ca.certPath, '--target', target, 'foo-bar[fast]'],
      { PIPCACHE_TEST_RESOLVE: pypi.resolve },
    );
    assertOk('pip install via fake PyPI', r);
    expect(r.stdout).toContain('Successfully installed');
    expect([...pypi.counters.pages.keys()].sort()).toEqual(['bar', 'baz-sdist', 'foo-bar']);
    expect(pypi.counters.metadata.get('Foo_Bar-1.0-py3-none-any.whl')).toBe(1);
    expect(pypi.counters.files.get('Foo_Bar-1.0-py3-none-any.whl')).toBe(1);
    expect(pypi.counters.files.get('baz_sdist-0.3.tar.gz')).toBe(1);
    expect(pypi.counters.requests.every((q) => q.headers['user-agent']?.toString().startsWith('pip/'))).toBe(true);
    expect(pypi.errors).toEqual([]);
  });

  it('passes X509 strict verification (Python 3.13 default) for pypi.org', async () => {
    const script = [
      'import ssl, socket, sys',
      'ctx = ssl.create_default_context(cafile=sys.argv[1])',
      'ctx.verify_flags |= ssl.VERIFY_X509_STRICT',
      'with socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=10) as raw:',
      '    with ctx.wrap_socket(raw, server_hostname="files.pythonhosted.org") as s:',
      '        s.sendall(b"GET /nope HTTP/1.1\\r\\nHost: files.pythonhosted.org\\r\\nConnection: close\\r\\n\\r\\n")',
      '        print(s.recv(64).split(b"\\r\\n")[0].decode())',
    ].join('\n');
    const r = assertOk('strict TLS', await venv.python(['-c', script, ca.certPath, String(pypi.port)]));
    expect(r.stdout.trim()).toBe('HTTP/1.1 404 Not Found');
  });

  it('plain HTTPS server serves a PEP 503 page and its files for another host', async () => {
    const bar = file('bar-1.1-py3-none-any.whl');
    const other = await startPlainHttpsServer(ca, 'other.test', [bar]);
    try {
      const r = await httpsGet({ port: other.port, host: 'other.test', path: '/simple/bar/', ca: ca.certPem });
      const m = /href="https:\/\/other\.test(\/files\/[^"#]+)#sha256=([0-9a-f]+)"/.exec(r.body.toString());
      expect(m).not.toBeNull();
      const f = await httpsGet({ port: other.port, host: 'other.test', path: m![1]!, ca: ca.certPem });
      expect(sha256(f.body)).toBe(m![2]);
      expect(other.requests).toBe(2);
      expect(other.resolve).toBe(`other.test:443=127.0.0.1:${other.port}`);
    } finally {
      await other.close();
    }
  });
});

describe('proc', () => {
  it('kills the process group on timeout', async () => {
    const r = await run('/bin/sh', ['-c', 'sleep 30 & sleep 30; echo never'], { timeoutMs: 300 });
    expect(r.timedOut).toBe(true);
    expect(r.stdout).toBe('');
  });
});

async function fileUrl(project: string, filename: string): Promise<string> {
  const r = await page(`/simple/${project}/`, { Accept: PIP_ACCEPT });
  const doc = JSON.parse(r.body.toString('utf8')) as { files: { filename: string; url: string }[] };
  const f = doc.files.find((x) => x.filename === filename);
  if (!f) throw new Error(`${filename} not listed for ${project}`);
  return f.url;
}
