import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startConnectProxy, type ConnectProxy } from '../fixtures/connect-proxy.js';
import { startPlainHttpsServer, type PlainHttpsServer } from '../fixtures/plain-https-server.js';
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
  world = await createWorld(
    'upproxy',
    [
      { name: 'app', version: '1.0', requires: ['liba'] },
      { name: 'liba', version: '1.0' },
      { name: 'other', version: '2.0' },
      // Served only by other.test, a host the daemon does not intercept.
      { name: 'Tunnelled_Lib', version: '3.0.post1' },
    ],
    { serve: (f) => f.project !== 'tunnelled-lib' },
  );
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

/** A raw CONNECT through the daemon: the status line and whatever the daemon said before closing. */
function rawConnect(d: TestDaemon, authority: string): Promise<{ status: number; text: string }> {
  const { hostname, port } = new URL(d.address);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(port), hostname, () => s.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`));
    let text = '';
    s.setTimeout(30_000, () => s.destroy(new Error('no answer to CONNECT in 30 s')));
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      // A 200 leaves the tunnel open: the status line is all there is to read.
      if (text.startsWith('HTTP/1.1 200')) s.destroy();
    });
    s.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text }));
    s.on('error', reject);
  });
}

describe('tunnels and forwards to hosts the daemon does not intercept', () => {
  let other: PlainHttpsServer;
  let plain: http.Server;
  let plainPort = 0;
  let outer: ConnectProxy;

  beforeAll(async () => {
    other = await startPlainHttpsServer(world.ca, 'other.test', world.files.filter((f) => f.project === 'tunnelled-lib'));
    plain = http.createServer((req, res) => res.end(`plain says hello to ${req.url}`));
    await new Promise<void>((ok) => plain.listen(0, '127.0.0.1', ok));
    plainPort = (plain.address() as net.AddressInfo).port;
    // Only this proxy knows where other.test and plain.test are: the daemon cannot resolve either name.
    outer = await startConnectProxy({
      auth: { username: USER, password: PASSWORD },
      resolve: `other.test:443=127.0.0.1:${other.port},plain.test:${plainPort}=127.0.0.1:${plainPort}`,
    });
  });

  afterAll(async () => {
    await outer?.close();
    await other?.close();
    await new Promise((ok) => (plain ? plain.close(ok) : ok(undefined)));
  });

  it('pip through a blind tunnel: the tunnel goes through the outbound proxy, which resolves the name', async () => {
    const d = await daemonWith({ upstreamProxy: `http://${USER}:${PASSWORD}@127.0.0.1:${outer.port}` });
    const before = other.requests;
    const r = await pipFetch(d, 'tunnelled-lib', ['--index-url', 'https://other.test/simple/']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(outer.tunnels.get('other.test:443') ?? 0).toBeGreaterThanOrEqual(1);
    expect(other.requests).toBeGreaterThan(before);
    expect(await d.logged((l) => l.method === 'CONNECT' && l.host === 'other.test' && l.cache === 'tunnel')).toBe(true);
    // A tunnel is relayed, never cached.
    const ls = await d.cli(['ls', 'tunnelled-lib', '--json']);
    expect(ls.code, ls.stderr).toBe(0);
    expect((JSON.parse(ls.stdout) as { files?: unknown[] }).files ?? []).toEqual([]);
  });

  it('an outbound proxy refusing the credentials: the CONNECT is answered with the coded reason, and no password', async () => {
    const d = await daemonWith({ upstreamProxy: `http://${USER}:wrong-password@127.0.0.1:${outer.port}` });
    const refusedBefore = outer.refused;
    const r = await rawConnect(d, 'other.test:443');
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.text).toContain('refused the credentials (407)');
    expect(r.text).not.toContain('wrong-password');
    expect(outer.refused).toBe(refusedBefore + 1);
    expect(await d.logged((l) => l.msg === 'tunnel failed' && l.code === 'E_UPSTREAM_PROXY_AUTH')).toBe(true);
  });

  it('a host in noProxy is tunnelled directly', async () => {
    const d = await daemonWith(
      { upstreamProxy: `http://${USER}:${PASSWORD}@127.0.0.1:${outer.port}`, noProxy: ['other.test'] },
      { resolve: other.resolve },
    );
    const tunnelsBefore = outer.tunnels.get('other.test:443') ?? 0;
    const r = await rawConnect(d, 'other.test:443');
    expect(r.status).toBe(200);
    expect(outer.tunnels.get('other.test:443') ?? 0).toBe(tunnelsBefore);
  });

  it('a plain-http request for another host is forwarded through the outbound proxy in absolute form', async () => {
    const d = await daemonWith({ upstreamProxy: `http://${USER}:${PASSWORD}@127.0.0.1:${outer.port}` });
    const { hostname, port } = new URL(d.address);
    const authority = `plain.test:${plainPort}`;
    const body = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request({ host: hostname, port: Number(port), path: `http://${authority}/greeting?x=1`, headers: { host: authority }, timeout: 30_000 }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('timeout', () => req.destroy(new Error('no answer in 30 s')));
      req.on('error', reject);
      req.end();
    });
    expect(body).toEqual({ status: 200, text: 'plain says hello to /greeting?x=1' });
    expect(outer.forwarded.get(authority)).toBe(1);
  });
});
