import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type LogLine, type TestDaemon } from '../helpers/daemon.js';
import type { Venv } from '../helpers/venv.js';
import { createWorld, type World } from '../helpers/world.js';

/**
 * Daemons chained to a parent daemon that requires its token: a child in
 * proxy mode (the parent as its upstream proxy, the parent's CA as caFile)
 * and a child whose index mode fronts the parent's index.
 */
let world: World;
let parent: TestDaemon;
let parentPort: number;
let token: string;
let venv: Venv;
const children: TestDaemon[] = [];
let downloads = 0;

async function child(name: string, config: Record<string, unknown>): Promise<TestDaemon> {
  const home = join(world.dir, `child-${name}`);
  await mkdir(home, { recursive: true });
  await writeFile(join(home, 'config.json'), JSON.stringify(config));
  // No `resolve`: the child reaches upstream only through its parent.
  const d = await startDaemon({ resolve: '', caCertPath: world.ca.certPath, home });
  children.push(d);
  return d;
}

function pipFetch(env: Record<string, string>, spec: string): ReturnType<Venv['pip']> {
  return venv.pip(['download', '--no-cache-dir', '-d', join(world.dir, `dl-${downloads++}`), spec], env, 90_000);
}

const requests = (logs: LogLine[]): LogLine[] => logs.filter((l) => l.msg === 'request');

beforeAll(async () => {
  world = await createWorld('chain', [
    { name: 'app', version: '1.0', requires: ['liba'] },
    { name: 'liba', version: '1.0' },
    { name: 'tool', version: '3.0', requires: ['libz'] },
    { name: 'libz', version: '0.9' },
  ]);
  const home = join(world.dir, 'parent-home');
  await mkdir(home, { recursive: true });
  await writeFile(join(home, 'config.json'), JSON.stringify({ auth: true }));
  parent = await world.startDaemon({ home });
  parentPort = Number(new URL(parent.address).port);
  token = (await readFile(join(home, 'auth-token'), 'utf8')).trim();
  venv = await world.venv();
});

afterAll(async () => {
  for (const d of children) await d.stop();
  await world?.close();
});

describe('a daemon chained to a parent daemon', () => {
  it('proxy mode: the cold fetch makes one upstream fetch per file, at the parent; the warm one makes none', async () => {
    const c = await child('proxy', {
      upstreamProxy: `http://pipcache:${token}@127.0.0.1:${parentPort}`,
      caFile: join(parent.home, 'ca', 'ca.pem'),
    });
    const cold = await pipFetch(c.pipEnv, 'app');
    expect(cold.code, cold.stderr + cold.stdout).toBe(0);
    for (const [p, v] of [['app', '1.0'], ['liba', '1.0']] as const) {
      expect(world.pypi.counters.files.get(world.file(p, v).filename), p).toBe(1);
    }
    // The child asked the parent for each archive once: pip's request or the
    // child fetching it ahead after serving its .metadata (the parent may have
    // fetched it ahead too, so its answer is a hit or a miss).
    const atParent = requests(await parent.logs()).filter((l) => l.host === 'files.pythonhosted.org' && l.path?.endsWith('.whl'));
    expect(atParent.map((l) => l.path?.split('/').pop()).sort()).toEqual([world.file('app', '1.0').filename, world.file('liba', '1.0').filename].sort());
    expect(atParent.every((l) => l.status === 200 && (l.cache === 'miss' || l.cache === 'hit'))).toBe(true);
    const pipGot = requests(await c.logs()).filter((l) => l.path?.endsWith('.whl'));
    expect(pipGot.length).toBe(2);
    expect(pipGot.every((l) => l.status === 200 && (l.cache === 'miss' || l.cache === 'hit'))).toBe(true);

    const upstreamBefore = world.upstreamTraffic().requests.length;
    const parentBefore = requests(await parent.logs()).length;
    const warm = await pipFetch(c.pipEnv, 'app');
    expect(warm.code, warm.stderr + warm.stdout).toBe(0);
    expect(world.upstreamTraffic().requests.length).toBe(upstreamBefore);
    expect(requests(await parent.logs()).length).toBe(parentBefore);
    const logs = await c.logs();
    expect(logs.some((l) => String(l.msg).includes(`through the proxy http://***@127.0.0.1:${parentPort}`))).toBe(true);
    expect(JSON.stringify(logs)).not.toContain(token);
  });

  it('index mode: the child fronts the parent index with its token; one upstream fetch per file, none when warm', async () => {
    const c = await child('index', { indexUpstream: `http://pipcache:${token}@127.0.0.1:${parentPort}/simple/` });
    const envOut = await c.cli(['env', '--index', '--json']);
    expect(envOut.code, envOut.stderr).toBe(0);
    const indexEnv = JSON.parse(envOut.stdout) as Record<string, string>;
    const cold = await pipFetch(indexEnv, 'tool');
    expect(cold.code, cold.stderr + cold.stdout).toBe(0);
    for (const [p, v] of [['tool', '3.0'], ['libz', '0.9']] as const) {
      expect(world.pypi.counters.files.get(world.file(p, v).filename), p).toBe(1);
    }
    const atParent = requests(await parent.logs()).filter((l) => l.path?.startsWith('/files/'));
    expect(atParent.length).toBeGreaterThanOrEqual(2);
    expect(atParent.every((l) => l.status === 200)).toBe(true);

    const upstreamBefore = world.upstreamTraffic().requests.length;
    const parentBefore = requests(await parent.logs()).length;
    const warm = await pipFetch(indexEnv, 'tool');
    expect(warm.code, warm.stderr + warm.stdout).toBe(0);
    expect(world.upstreamTraffic().requests.length).toBe(upstreamBefore);
    expect(requests(await parent.logs()).length).toBe(parentBefore);
    const status = await c.cli(['status', '--json']);
    expect(status.stdout).not.toContain(token);
    expect(JSON.parse(status.stdout)).toMatchObject({ indexUpstream: `http://127.0.0.1:${parentPort}` });
  });
});
