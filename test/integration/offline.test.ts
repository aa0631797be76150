import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBackendWheels, type BuiltFile } from '../fixtures/packages.js';
import type { FakePypi } from '../fixtures/fake-pypi.js';
import type { Venv } from '../helpers/venv.js';
import type { TestDaemon } from '../helpers/daemon.js';
import { rawExchange } from '../helpers/proxy-client.js';
import { createWorld, type World } from '../helpers/world.js';

let world: World;
let pypi: FakePypi;
let daemon: TestDaemon;
let home: string;

const venv = (): Promise<Venv> => world.venv();
const archiveFetches = (): number => world.archiveFetches();
const file = (project: string, version: string): BuiltFile => world.file(project, version);

async function status(): Promise<{ offline: boolean; requests: { stale: number } }> {
  return JSON.parse((await daemon.cli(['status', '--json'])).stdout) as { offline: boolean; requests: { stale: number } };
}

beforeAll(async () => {
  world = await createWorld(
    'offline',
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
    { extraWheels: buildBackendWheels() },
  );
  pypi = world.pypi;
  home = join(world.dir, 'home');
  await mkdir(home, { recursive: true });
  // Every page request revalidates upstream, so upstream failures show.
  await writeFile(join(home, 'config.json'), JSON.stringify({ pageMaxAge: 0 }));
  daemon = await world.startDaemon({ home });
});

afterAll(async () => {
  await world?.close();
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
    expect(world.upstreamTraffic()).toEqual({ connections: 0, requests: [] });
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
    expect(world.upstreamTraffic()).toEqual({ connections: 0, requests: [] });
  });

  it('refuses tunnels to other hosts with 403', async () => {
    const r = await rawExchange(daemon.address, 'CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n');
    expect(r.text).toMatch(/^HTTP\/1\.1 403/);
    expect(r.text).toContain('offline');
    expect(world.upstreamTraffic()).toEqual({ connections: 0, requests: [] });
  });

  it('keeps the offline state across a restart', async () => {
    await daemon.stop();
    daemon = await world.startDaemon({ home });
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
    expect(world.upstreamTraffic()).toEqual({ connections: 0, requests: [] });
    await daemon.cli(['offline', 'off']);
  });

  it('installs a cached closure with upstream stopped, without the user doing anything', async () => {
    await pypi.close();
    const v = await venv();
    const started = Date.now();
    const r = await v.pip(['install', '--no-cache-dir', 'offapp'], daemon.pipEnv);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(Date.now() - started).toBeLessThan(60_000);
  });
});
