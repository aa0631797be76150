import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manylinuxTag, type BuiltFile } from '../fixtures/packages.js';
import { pythonhostedPath } from '../fixtures/simple-pages.js';
import type { FakePypi } from '../fixtures/fake-pypi.js';
import type { LogLine, TestDaemon } from '../helpers/daemon.js';
import { proxyClient } from '../helpers/proxy-client.js';
import { createWorld, type World } from '../helpers/world.js';
import { waitFor } from '../helpers/wait.js';

// Lock-file installers name files by URL, without reading the page:
// `name @ https://files.pythonhosted.org/...#sha256=...`. pip keeps the
// fragment to itself, so the daemon learns the digest from the project's page.

let world: World;
let pypi: FakePypi;
let daemon: TestDaemon;

const file = (project: string, version: string): BuiltFile => world.file(project, version);
const directUrl = (f: BuiltFile): string => `https://files.pythonhosted.org${pythonhostedPath(f)}`;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
/** Several real pip installs in one test: bounded, with room for a loaded machine. */
const INSTALLS_MS = 300_000;

/** A requirements file pinning each file by direct URL, as pip-compile --generate-hashes or a pylock export writes it. */
async function requirements(name: string, files: BuiltFile[]): Promise<string> {
  const path = join(world.dir, `${name}.txt`);
  await writeFile(path, files.map((f) => `${f.project} @ ${directUrl(f)}#sha256=${f.sha256}\n`).join(''));
  return path;
}

async function install(reqs: string, env = daemon.pipEnv): Promise<{ code: number | null; out: string }> {
  const v = await world.venv();
  const r = await v.pip(['install', '--no-cache-dir', '-r', reqs], env);
  return { code: r.code, out: r.stderr + r.stdout };
}

async function stored(project: string): Promise<string[]> {
  const r = await daemon.cli(['ls', project, '--json']);
  expect(r.code, r.stderr).toBe(0);
  const ls = JSON.parse(r.stdout) as { files?: { filename: string; stored: boolean }[] };
  return (ls.files ?? []).filter((f) => f.stored).map((f) => f.filename);
}

/**
 * The request log lines for `filename`. A request's line is written once its
 * response has closed, a moment after the client has the body: with
 * `atLeast`, wait (bounded) until that many are there.
 */
async function requestLines(filename: string, atLeast = 0): Promise<LogLine[]> {
  const lines = async (): Promise<LogLine[]> =>
    (await daemon.logs()).filter((l) => l.msg === 'request' && typeof l.path === 'string' && decodeURIComponent(l.path).endsWith(filename));
  await waitFor(`${atLeast} request lines for ${filename}`, async () => (await lines()).length >= atLeast, 5_000, 50);
  return lines();
}

beforeAll(async () => {
  const tag = await manylinuxTag();
  world = await createWorld('direct-urls', [
    { name: 'DirectApp', version: '1.0', requires: ['direct.lib>=1'] },
    { name: 'direct.lib', version: '1.0', wheelTag: tag, payloadBytes: 200_000 },
    { name: 'partial', version: '1.0' },
    { name: 'partial', version: '2.0' },
    { name: 'corrupt', version: '1.0' },
    { name: 'tampered', version: '1.0' },
    { name: 'metaonly', version: '1.0' },
    { name: 'idxdirect', version: '1.0' },
  ]);
  pypi = world.pypi;
  daemon = await world.startDaemon();
});

afterAll(async () => {
  await world?.close();
});

describe('direct file URLs', () => {
  it('are fetched verified, cached, and installed again from the cache offline and after a restart', async () => {
    const app = file('directapp', '1.0');
    const lib = file('direct-lib', '1.0');
    const reqs = await requirements('direct', [app, lib]);
    pypi.resetCounters();
    const cold = await install(reqs);
    expect(cold.code, cold.out).toBe(0);
    // The daemon read each project's page for the digest; pip itself asked for no page.
    expect(pypi.counters.pages.get('directapp')).toBe(1);
    expect(pypi.counters.pages.get('direct-lib')).toBe(1);
    expect(pypi.counters.files.get(app.filename)).toBe(1);
    expect(pypi.counters.files.get(lib.filename)).toBe(1);
    expect(await stored('directapp')).toEqual([app.filename]);
    expect(await stored('direct.lib')).toEqual([lib.filename]);
    expect((await requestLines(lib.filename, 1)).map((l) => l.cache)).toEqual(['miss']);

    pypi.resetCounters();
    const warm = await install(reqs);
    expect(warm.code, warm.out).toBe(0);
    expect(world.archiveFetches()).toBe(0);
    expect((await requestLines(lib.filename, 2)).map((l) => l.cache)).toEqual(['miss', 'hit']);

    expect((await daemon.cli(['offline', 'on'])).code).toBe(0);
    await daemon.stop();
    daemon = await world.startDaemon({ home: daemon.home });
    pypi.resetCounters();
    const offline = await install(reqs);
    expect(offline.code, offline.out).toBe(0);
    expect(pypi.counters.requests).toEqual([]);
    expect(pypi.counters.connections).toBe(0);
    expect((await daemon.cli(['offline', 'off'])).code).toBe(0);
  }, INSTALLS_MS);

  it('are passed through uncached, with a log line saying why, when the page does not list the file', async () => {
    const listed = file('partial', '1.0');
    const unlisted = file('partial', '2.0');
    pypi.faults.unlisted.add(unlisted.filename);
    try {
      const reqs = await requirements('unlisted', [unlisted]);
      pypi.resetCounters();
      for (let i = 0; i < 2; i++) {
        const r = await install(reqs);
        expect(r.code, r.out).toBe(0);
      }
      expect(pypi.counters.files.get(unlisted.filename)).toBe(2);
      expect(await stored('partial')).toEqual([]);
      const lines = await requestLines(unlisted.filename);
      expect(lines.map((l) => [l.cache, l.status])).toEqual([
        ['bypass', 200],
        ['bypass', 200],
      ]);
      expect(lines[0]?.reason).toBe(`uncached: pypi.org/simple/partial/ does not list ${unlisted.filename}`);
      const warned = (await daemon.logs()).filter((l) => l.msg === 'no sha256 to verify the file against: not cached');
      expect(warned.map((l) => l.reason)).toContain(`pypi.org/simple/partial/ does not list ${unlisted.filename}`);
      // The listed sibling is cached as usual.
      const ok = await install(await requirements('listed', [listed]));
      expect(ok.code, ok.out).toBe(0);
      expect(await stored('partial')).toEqual([listed.filename]);
    } finally {
      pypi.faults.unlisted.delete(unlisted.filename);
    }
  }, INSTALLS_MS);

  it('never caches a corrupt upstream body, and pip never installs it', async () => {
    const f = file('corrupt', '1.0');
    const reqs = await requirements('corrupt', [f]);
    pypi.faults.corrupt.add(f.filename);
    try {
      const bad = await install(reqs);
      expect(bad.code, bad.out).not.toBe(0);
      // The daemon withholds the last byte of an unverified body: pip gets too little and fails its own check.
      expect(bad.out).toMatch(/THESE PACKAGES DO NOT MATCH THE HASHES/);
      expect(await stored('corrupt')).toEqual([]);
      const discarded = (await daemon.logs()).filter((l) => l.msg === 'download discarded; nothing cached' && String(l.url).endsWith(f.filename));
      expect(discarded.map((l) => l.code)).toEqual(['E_HASH_MISMATCH']);
    } finally {
      pypi.faults.corrupt.delete(f.filename);
    }
    const good = await install(reqs);
    expect(good.code, good.out).toBe(0);
    expect(await stored('corrupt')).toEqual([f.filename]);
  }, INSTALLS_MS);

  it('passed through unverified, a corrupt body still fails on the hash pip holds', async () => {
    const f = file('tampered', '1.0');
    pypi.faults.corrupt.add(f.filename);
    pypi.faults.unlisted.add(f.filename);
    try {
      const r = await install(await requirements('tampered', [f]));
      expect(r.code, r.out).not.toBe(0);
      expect(r.out).toMatch(/THESE PACKAGES DO NOT MATCH THE HASHES/);
      expect(await stored('tampered')).toEqual([]);
      expect((await requestLines(f.filename, 1)).map((l) => l.cache)).toEqual(['bypass']);
    } finally {
      pypi.faults.corrupt.delete(f.filename);
      pypi.faults.unlisted.delete(f.filename);
    }
  }, INSTALLS_MS);

  it('serves the .metadata of a file no page was read for, verified and cached', async () => {
    const f = file('metaonly', '1.0');
    const meta = f.metadata;
    if (!meta) throw new Error('metaonly was built without metadata');
    const client = proxyClient(daemon.address, daemon.pipEnv.PIP_CERT ?? '');
    try {
      pypi.resetCounters();
      const first = await client.get(`${directUrl(f)}.metadata`);
      expect(first.status).toBe(200);
      expect(sha256(first.body)).toBe(meta.sha256);
      expect(first.body.equals(await readFile(meta.path))).toBe(true);
      expect(pypi.counters.metadata.get(f.filename)).toBe(1);
      expect((await daemon.cli(['offline', 'on'])).code).toBe(0);
      pypi.resetCounters();
      const again = await client.get(`${directUrl(f)}.metadata`);
      expect(again.status).toBe(200);
      expect(sha256(again.body)).toBe(meta.sha256);
      expect(pypi.counters.requests).toEqual([]);
      expect((await requestLines(`${f.filename}.metadata`, 2)).map((l) => l.cache)).toEqual(['miss', 'hit']);
    } finally {
      await daemon.cli(['offline', 'off']);
      await client.close();
    }
  });

  it("index mode's /files/ URLs are resolved through the page too when the cache has not seen them", async () => {
    const f = file('idxdirect', '1.0');
    const indexUrl = (JSON.parse((await daemon.cli(['env', '--index', '--json'])).stdout) as Record<string, string>).PIP_INDEX_URL ?? '';
    const url = new URL(`../files/idxdirect/1.0/${encodeURIComponent(f.filename)}`, indexUrl);
    pypi.resetCounters();
    const res = await fetch(url);
    const body = Buffer.from(await res.arrayBuffer());
    expect(res.status).toBe(200);
    expect(sha256(body)).toBe(f.sha256);
    expect(pypi.counters.pages.get('idxdirect')).toBe(1);
    expect(await stored('idxdirect')).toEqual([f.filename]);
    const missing = await fetch(new URL('../files/idxdirect/9.9/idxdirect-9.9-py3-none-any.whl', indexUrl));
    await missing.arrayBuffer();
    expect(missing.status).toBe(404);
  });

  it('install again from the cache with upstream stopped', async () => {
    const reqs = await requirements('direct', [file('directapp', '1.0'), file('direct-lib', '1.0')]);
    await pypi.close();
    const r = await install(reqs);
    expect(r.code, r.out).toBe(0);
  }, INSTALLS_MS);
});
