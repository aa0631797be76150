import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa, type TestCa } from '../fixtures/test-ca.js';
import { buildBackendWheels, buildPackages, describeFile, type BuiltFile } from '../fixtures/packages.js';
import { startFakePypi, type FakePypi } from '../fixtures/fake-pypi.js';
import { createVenv, type Venv } from '../helpers/venv.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { rawExchange } from '../helpers/proxy-client.js';

let dir: string;
let ca: TestCa;
let files: BuiltFile[];
let pypi: FakePypi;
let pypiUp = false;
let daemon: TestDaemon;
let home: string;
let n = 0;

const venv = (): Promise<Venv> => createVenv(join(dir, `venv-${n++}`));
const archiveFetches = (): number => [...pypi.counters.files.values()].reduce((a, b) => a + b, 0);
const file = (project: string, version: string): BuiltFile => {
  const f = files.find((x) => x.project === project && x.version === version);
  if (!f) throw new Error(`no ${project} ${version}`);
  return f;
};

async function status(): Promise<{ offline: boolean; requests: { stale: number } }> {
  return JSON.parse((await daemon.cli(['status', '--json'])).stdout) as { offline: boolean; requests: { stale: number } };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pipcache-offline-'));
  ca = await createTestCa(join(dir, 'ca'));
  files = await buildPackages(
    [
      { name: 'offapp', version: '1.0', requires: ['offdep>=1', 'sdproj'] },
      { name: 'offdep', version: '1.0' },
      { name: 'offdep', version: '2.0' },
      { name: 'sdproj', version: '1.0', kind: 'sdist', buildBackend: 'setuptools' },
      { name: 'pinned', version: '1.0' },
      { name: 'pinned', version: '2.0' },
      { name: 'notcached', version: '1.0' },
      { name: 'idxpkg', version: '1.0', requires: ['offdep'] },
    ],
    join(dir, 'dist'),
  );
  for (const w of buildBackendWheels()) files.push(await describeFile(w, undefined, join(dir, 'meta')));
  pypi = await startFakePypi({ ca, files });
  pypiUp = true;
  home = join(dir, 'home');
  await mkdir(home, { recursive: true });
  // Every page request revalidates upstream, so upstream failures show.
  await writeFile(join(home, 'config.json'), JSON.stringify({ pageMaxAge: 0 }));
  daemon = await startDaemon({ resolve: pypi.resolve, caCertPath: ca.certPath, home });
});

afterAll(async () => {
  await daemon?.stop();
  if (pypiUp) await pypi.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('offline mode', () => {
  it('installs a cached closure, sdist build dependencies included, with zero upstream connections', async () => {
    const cold = await (await venv()).pip(['install', '--no-cache-dir', 'offapp'], daemon.pipEnv);
    expect(cold.code, cold.stderr + cold.stdout).toBe(0);
    expect(pypi.counters.files.get(file('sdproj', '1.0').filename)).toBe(1);
    expect((await daemon.cli(['offline', 'on'])).code).toBe(0);
    expect((await status()).offline).toBe(true);
    pypi.resetCounters();
    const v = await venv();
    const warm = await v.pip(['install', '--no-cache-dir', 'offapp'], daemon.pipEnv);
    expect(warm.code, warm.stderr + warm.stdout).toBe(0);
    expect((await v.python(['-c', 'import offapp, offdep, sdproj; print(offdep.__version__)'])).stdout.trim()).toBe('2.0');
    expect(pypi.counters.connections).toBe(0);
  });

  it('refuses an uncached project fast, with pip\'s normal message and a log line naming it', async () => {
    const v = await venv();
    const started = Date.now();
    const r = await v.pip(['install', '--no-cache-dir', 'notcached'], daemon.pipEnv);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/No matching distribution found for notcached/);
    expect(Date.now() - started).toBeLessThan(15_000);
    const logs = await daemon.logs();
    expect(logs.some((l) => l.cache === 'offline' && String(l.reason).includes('notcached'))).toBe(true);
    expect(pypi.counters.connections).toBe(0);
  });

  it('refuses tunnels to other hosts with 403', async () => {
    const r = await rawExchange(daemon.address, 'CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n');
    expect(r.text).toMatch(/^HTTP\/1\.1 403/);
    expect(r.text).toContain('offline');
    expect(pypi.counters.connections).toBe(0);
  });

  it('keeps the offline state across a restart', async () => {
    await daemon.stop();
    daemon = await startDaemon({ resolve: pypi.resolve, caCertPath: ca.certPath, home });
    expect((await status()).offline).toBe(true);
    expect((await daemon.cli(['offline', 'status'])).stdout).toMatch(/^offline/);
    expect((await daemon.cli(['offline', 'off'])).code).toBe(0);
    expect((await status()).offline).toBe(false);
  });
});

describe('online, when upstream fails', () => {
  it('still installs a pinned version that upstream no longer lists, and marks it gone', async () => {
    const old = file('pinned', '1.0');
    const first = await (await venv()).pip(['install', '--no-cache-dir', 'pinned==1.0'], daemon.pipEnv);
    expect(first.code, first.stderr).toBe(0);
    pypi.faults.hidden.add(old.filename);
    const again = await (await venv()).pip(['install', '--no-cache-dir', 'pinned==1.0'], daemon.pipEnv);
    expect(again.code, again.stderr + again.stdout).toBe(0);
    const ls = JSON.parse((await daemon.cli(['ls', 'pinned', '--json'])).stdout) as { files: { filename: string; goneUpstream: boolean }[] };
    expect(ls.files.find((f) => f.filename === old.filename)?.goneUpstream).toBe(true);
    expect((await daemon.cli(['ls', 'pinned'])).stdout).toContain('gone upstream');
  });

  it('serves the cached pages when upstream answers 503', async () => {
    pypi.faults.pageStatus = 503;
    const r = await (await venv()).pip(['install', '--no-cache-dir', 'offapp'], daemon.pipEnv);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect((await status()).requests.stale).toBeGreaterThan(0);
    const logs = await daemon.logs();
    expect(logs.some((l) => l.msg?.includes('stale') && String(l.reason).includes('503'))).toBe(true);
    pypi.faults.pageStatus = undefined;
  });
});

describe('index mode', () => {
  it('works cold, warm, shares blobs with proxy mode, and works offline', async () => {
    const envOut = await daemon.cli(['env', '--index', '--json']);
    const indexEnv = JSON.parse(envOut.stdout) as Record<string, string>;
    expect(indexEnv.PIP_INDEX_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/simple\/$/);
    expect(indexEnv.HTTPS_PROXY).toBeUndefined();
    pypi.resetCounters();
    const cold = await (await venv()).pip(['install', '--no-cache-dir', 'idxpkg'], indexEnv);
    expect(cold.code, cold.stderr + cold.stdout).toBe(0);
    expect(pypi.counters.files.get(file('idxpkg', '1.0').filename)).toBe(1);
    // offdep 2.0 came through proxy mode earlier: a hit here.
    expect(pypi.counters.files.get(file('offdep', '2.0').filename)).toBeUndefined();
    const before = archiveFetches();
    const warm = await (await venv()).pip(['install', '--no-cache-dir', 'idxpkg'], indexEnv);
    expect(warm.code, warm.stderr).toBe(0);
    expect(archiveFetches()).toBe(before);
    // ...and what index mode fetched is a hit through the proxy.
    const viaProxy = await (await venv()).pip(['install', '--no-cache-dir', 'idxpkg'], daemon.pipEnv);
    expect(viaProxy.code, viaProxy.stderr).toBe(0);
    expect(archiveFetches()).toBe(before);
    await daemon.cli(['offline', 'on']);
    pypi.resetCounters();
    const off = await (await venv()).pip(['install', '--no-cache-dir', 'idxpkg'], indexEnv);
    expect(off.code, off.stderr).toBe(0);
    expect(pypi.counters.connections).toBe(0);
    await daemon.cli(['offline', 'off']);
  });

  it('installs a cached closure with upstream stopped, without the user doing anything', async () => {
    await pypi.close();
    pypiUp = false;
    const v = await venv();
    const started = Date.now();
    const r = await v.pip(['install', '--no-cache-dir', 'offapp'], daemon.pipEnv);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(Date.now() - started).toBeLessThan(60_000);
  });
});
