import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startConnectProxy, type ConnectProxy } from '../fixtures/connect-proxy.js';
import { pythonhostedPath } from '../fixtures/simple-pages.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { proxyClient } from '../helpers/proxy-client.js';
import type { Venv } from '../helpers/venv.js';
import { createWorld, type World } from '../helpers/world.js';

const USER = 'alice';
const PASSWORD = 's3cret-proxy-pw';

let world: World;
let proxy: ConnectProxy;
let venv: Venv;
let downloads = 0;
const daemons: TestDaemon[] = [];
let homes = 0;

/** A daemon with its own home and config.json; `resolve` only what the test names (none: upstream names must go through the proxy). */
async function daemonWith(config: Record<string, unknown>, o: { resolve?: string; env?: Record<string, string> } = {}): Promise<TestDaemon> {
  const home = join(world.dir, `proxied-home-${homes++}`);
  await mkdir(home, { recursive: true });
  await writeFile(join(home, 'config.json'), JSON.stringify(config));
  const d = await startDaemon({ resolve: o.resolve ?? '', caCertPath: world.ca.certPath, home, ...(o.env ? { extraEnv: o.env } : {}) });
  daemons.push(d);
  return d;
}

/** `pip download` of `spec` and its dependencies into a new directory, through `d` (one venv serves every case). */
function pipFetch(d: TestDaemon, spec: string, extra: string[] = []): ReturnType<Venv['pip']> {
  return venv.pip(['download', '--no-cache-dir', '-d', join(world.dir, `dl-${downloads++}`), ...extra, spec], d.pipEnv, 90_000);
}

/** Every file under `dir`, read whole: credentials must be in none of them. */
async function homeContains(dir: string, needle: string): Promise<string[]> {
  const hits: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const path = join(e.parentPath, e.name);
    const data = await readFile(path).catch(() => Buffer.alloc(0));
    if (data.includes(needle)) hits.push(path);
  }
  return hits;
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = net.createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => ok(port));
    });
  });
}

beforeAll(async () => {
  world = await createWorld('upproxy', [
    { name: 'app', version: '1.0', requires: ['liba'] },
    { name: 'liba', version: '1.0' },
    { name: 'other', version: '2.0' },
  ]);
  // The proxy resolves the index hosts to the fake PyPI; the daemons do not, so only the proxy can reach it.
  proxy = await startConnectProxy({ auth: { username: USER, password: PASSWORD }, resolve: world.pypi.resolve });
  venv = await world.venv();
});

afterAll(async () => {
  for (const d of daemons) await d.stop();
  await proxy?.close();
  await world?.close();
});

describe('upstream through an outbound proxy', () => {
  it('fetches through the proxy in the config, with no direct connection, and keeps its credentials out of logs and catalog', async () => {
    const d = await daemonWith({ upstreamProxy: `http://${USER}:${PASSWORD}@127.0.0.1:${proxy.port}` });
    const before = world.pypi.counters.connections;
    const r = await pipFetch(d, 'app');
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(proxy.tunnels.get('pypi.org:443') ?? 0).toBeGreaterThan(0);
    expect(proxy.tunnels.get('files.pythonhosted.org:443') ?? 0).toBeGreaterThan(0);
    // Every connection the fake PyPI accepted came out of a tunnel.
    expect(world.pypi.counters.connections - before).toBe(proxy.tunnelCount());
    const logs = await d.logs();
    expect(logs.some((l) => String(l.msg).includes(`through the proxy http://***@127.0.0.1:${proxy.port} (config upstreamProxy)`))).toBe(true);
    await d.stop();
    expect(await homeContains(d.home, PASSWORD)).toEqual([join(d.home, 'config.json')]);
  });

  it('wrong credentials: a coded 407 error in the log, 503 for a file, and the page fails cleanly', async () => {
    const d = await daemonWith({ upstreamProxy: `http://${USER}:wrong@127.0.0.1:${proxy.port}` });
    const refusedBefore = proxy.refused;
    const r = await pipFetch(d, 'other', ['--retries', '0']);
    expect(r.code).not.toBe(0);
    const client = proxyClient(d.address, join(d.home, 'ca', 'bundle.pem'));
    try {
      const file = world.file('other', '2.0');
      const got = await client.get(`https://files.pythonhosted.org${pythonhostedPath(file)}`);
      expect(got.status).toBe(503);
      expect(got.body.toString()).toContain(`the upstream proxy http://***@127.0.0.1:${proxy.port} refused the credentials (407)`);
    } finally {
      await client.close();
    }
    expect(proxy.refused).toBeGreaterThan(refusedBefore);
    const logs = await d.logs();
    expect(logs.some((l) => l.code === 'E_UPSTREAM_PROXY_AUTH' && l.status === 503)).toBe(true);
    expect(logs.some((l) => l.path === '/simple/other/' && String(l.reason).includes('refused the credentials (407)'))).toBe(true);
    expect(JSON.stringify(logs)).not.toContain('wrong');

    // doctor: pip's request reaches the daemon, but the daemon cannot get past its proxy, and says how to fix it.
    const doc = await d.cli(['doctor', '--python', venv.pythonPath, '--json'], 120_000, { env: { ...d.pipEnv, PIP_CONFIG_FILE: '/dev/null' } });
    expect(doc.code, doc.stdout + doc.stderr).toBe(1);
    const report = JSON.parse(doc.stdout) as { ok: boolean; checks: { name: string; ok: boolean; detail: string; fix?: string }[] };
    expect(report.checks.find((c) => c.name === 'probe')?.ok).toBe(true);
    const upstream = report.checks.find((c) => c.name === 'upstream');
    expect(upstream?.ok).toBe(false);
    expect(upstream?.detail).toContain('refused the credentials (407)');
    expect(upstream?.fix).toContain(`upstreamProxy in ${join(d.home, 'config.json')}`);
    expect(doc.stdout).not.toContain('wrong');
  });

  it('HTTPS_PROXY and NO_PROXY from the daemon environment: pages through the proxy, a NO_PROXY host direct', async () => {
    const fake = world.pypi.port;
    const d = await daemonWith(
      {},
      {
        // Only the direct route to the file host is resolved here; pypi.org is reachable through the proxy only.
        resolve: `files.pythonhosted.org:443=127.0.0.1:${fake}`,
        env: { HTTPS_PROXY: `http://${USER}:${PASSWORD}@127.0.0.1:${proxy.port}`, NO_PROXY: 'localhost,.pythonhosted.org' },
      },
    );
    const pagesBefore = proxy.tunnels.get('pypi.org:443') ?? 0;
    const filesBefore = proxy.tunnels.get('files.pythonhosted.org:443') ?? 0;
    const fetchesBefore = world.archiveFetches();
    const r = await pipFetch(d, 'other');
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(proxy.tunnels.get('pypi.org:443') ?? 0).toBeGreaterThan(pagesBefore);
    expect(proxy.tunnels.get('files.pythonhosted.org:443') ?? 0).toBe(filesBefore);
    expect(world.archiveFetches()).toBe(fetchesBefore + 1);
    const logs = await d.logs();
    expect(logs.some((l) => String(l.msg).includes("(HTTPS_PROXY in the daemon's environment)"))).toBe(true);
  });

  it('HTTPS_PROXY pointing at the daemon itself (a shell that ran pipcache env) is ignored: no loop', async () => {
    const port = await freePort();
    const self = `http://127.0.0.1:${port}`;
    const d = await daemonWith(
      {},
      { resolve: world.pypi.resolve, env: { PIPCACHE_PORT: String(port), HTTPS_PROXY: self, https_proxy: self, HTTP_PROXY: self } },
    );
    expect(d.address).toBe(self);
    const tunnelsBefore = proxy.tunnelCount();
    const r = await pipFetch(d, 'app');
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(proxy.tunnelCount()).toBe(tunnelsBefore);
    const logs = await d.logs();
    const notes = logs.filter((l) => String(l.msg).includes('ignored: it points at this daemon'));
    expect(notes.map((l) => l.msg).sort()).toEqual([
      `HTTP_PROXY=${self} ignored: it points at this daemon (following it would loop)`,
      `https_proxy=${self} ignored: it points at this daemon (following it would loop)`,
    ]);
    // Each upstream request was made once: none came back in through the daemon's own listener.
    expect(logs.filter((l) => l.msg === 'request' && l.path === '/simple/app/')).toHaveLength(1);
  });
});
