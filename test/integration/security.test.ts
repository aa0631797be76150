import { createHash } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startPlainHttpsServer, type PlainHttpsServer } from '../fixtures/fake-pypi.js';
import { buildPackages } from '../fixtures/packages.js';
import type { TestDaemon } from '../helpers/daemon.js';
import { proxyClient, rawExchange } from '../helpers/proxy-client.js';
import { startRecorder, startTripwire, tunnelExchange, type Recorder, type Tripwire } from '../helpers/hostile.js';
import { createWorld, type World } from '../helpers/world.js';

/**
 * The trust boundary, attacked on the real daemon: request targets naming
 * another host, an open proxy off loopback, clients outside `allow`, and
 * the token. Each attack asserts the clear refusal and that nothing changed:
 * no connection reached the foreign host, the index is as it was, and the
 * daemon keeps serving.
 */
let world: World;
let evil: Tripwire;
let intranet: Recorder;
let evilResolve: string;

beforeAll(async () => {
  world = await createWorld('security', [
    { name: 'secpkg', version: '1.0' },
    { name: 'requests', version: '2.0' },
    { name: 'dup', version: '1.0', payloadBytes: 100 },
  ]);
  evil = await startTripwire();
  intranet = await startRecorder();
  evilResolve = ['evil.example:8443', 'evil.example:443', 'evil.example:80'].map((h) => `${h}=127.0.0.1:${evil.port}`).join(',');
});

afterAll(async () => {
  await world?.close();
  await evil?.close();
  await intranet?.close();
});

async function homeWith(name: string, config: object): Promise<string> {
  const home = join(world.dir, name);
  await mkdir(home, { recursive: true });
  await writeFile(join(home, 'config.json'), JSON.stringify(config));
  return home;
}

async function projects(d: TestDaemon): Promise<string[]> {
  const r = await d.cli(['ls', '--json']);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { projects: { name: string }[] }).projects.map((p) => p.name).sort();
}

async function stillServes(d: TestDaemon): Promise<void> {
  const client = proxyClient(d.address, d.pipEnv.PIP_CERT ?? '');
  try {
    expect((await client.get('https://pypi.org/simple/secpkg/')).status).toBe(200);
  } finally {
    await client.close();
  }
}

describe('request targets that name another host', () => {
  let daemon: TestDaemon;
  beforeAll(async () => {
    daemon = await world.startDaemon({ resolve: evilResolve });
    await stillServes(daemon);
  });

  it('refuses //host targets on the plain port and inside a tunnel; nothing reaches the host, nothing enters the index', async () => {
    const before = await projects(daemon);
    const plain = await rawExchange(daemon.address, 'GET //evil.example:8443/simple/requests/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    expect(plain.text).toMatch(/^HTTP\/1\.1 400/);
    // A backslash is a slash to the URL parser: `/\\evil.example/...` resolved against the index would leave it.
    for (const target of ['/\\evil.example:8443/simple/requests/', '/\\\\evil.example/simple/requests/']) {
      const r = await rawExchange(daemon.address, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      expect(r.text, target).toMatch(/^HTTP\/1\.1 (400|404)/);
    }
    const slashInTunnel = await tunnelExchange(daemon.address, 'pypi.org', daemon.pipEnv.PIP_CERT ?? '', 'GET /\\evil.example:8443/simple/requests/ HTTP/1.1\r\nHost: pypi.org\r\n\r\n');
    expect(slashInTunnel).toMatch(/^HTTP\/1\.1 (400|404)/);
    const bundle = daemon.pipEnv.PIP_CERT ?? '';
    const inTunnel = await tunnelExchange(daemon.address, 'pypi.org', bundle, 'GET //evil.example:8443/simple/requests/ HTTP/1.1\r\nHost: pypi.org\r\n\r\n');
    expect(inTunnel).toMatch(/^HTTP\/1\.1 400/);
    const absolute = await tunnelExchange(daemon.address, 'pypi.org', bundle, 'GET https://evil.example/simple/requests/ HTTP/1.1\r\nHost: pypi.org\r\n\r\n');
    expect(absolute).toMatch(/^HTTP\/1\.1 400/);
    const plainHttp = await tunnelExchange(daemon.address, 'pypi.org', bundle, 'GET http://pypi.org/simple/requests/ HTTP/1.1\r\nHost: pypi.org\r\n\r\n');
    expect(plainHttp).toMatch(/^HTTP\/1\.1 400/);
    // A web page's <img src="http://127.0.0.1:PORT//evil.example/..."> is the same request.
    const img = await request(`${daemon.address}//evil.example/simple/requests/`, { headersTimeout: 10_000 }).catch((e: Error) => e);
    if (!(img instanceof Error)) {
      expect(img.statusCode).toBe(400);
      await img.body.dump();
    }
    expect(evil.connections).toBe(0);
    expect(await projects(daemon)).toEqual(before);
    const logs = await daemon.logs();
    expect(logs.some((l) => /names another host|bad request target/.test(l.msg + (l.reason ?? '')))).toBe(true);
    await stillServes(daemon);
  });

  it('fetches absolute-form http:// index requests over https, never plain http', async () => {
    world.pypi.resetCounters();
    const r = await rawExchange(daemon.address, 'GET http://pypi.org/simple/requests/ HTTP/1.1\r\nHost: pypi.org\r\nAccept: text/html\r\nConnection: close\r\n\r\n', 30_000);
    expect(r.text).toMatch(/^HTTP\/1\.1 200/);
    expect(r.text).toContain('requests-2.0');
    // The fake PyPI speaks only TLS: the page came from there, over https.
    expect(world.pypi.counters.requests.some((q) => q.path === '/simple/requests/')).toBe(true);
  });
});

describe('a daemon that accepts clients beyond loopback', () => {
  let daemon: TestDaemon;
  beforeAll(async () => {
    const home = await homeWith('exposed', { allow: ['127.0.0.0/8', '10.0.0.0/8'] });
    daemon = await world.startDaemon({ home, resolve: evilResolve });
  });

  it('never tunnels or forwards to loopback, private or link-local addresses', async () => {
    const before = await projects(daemon);
    for (const target of ['127.0.0.1:443', 'localhost:443', '10.1.2.3:443', '[::1]:443', '169.254.169.254:443', '192.168.1.1:443']) {
      const r = await rawExchange(daemon.address, `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
      expect(r.text, target).toMatch(/^HTTP\/1\.1 403/);
      expect(r.text).toMatch(/internal address/);
    }
    for (const url of [`http://127.0.0.1:${intranet.port}/`, 'http://169.254.169.254/latest/meta-data/', `http://localhost:${intranet.port}/x`]) {
      const r = await rawExchange(daemon.address, `GET ${url} HTTP/1.1\r\nHost: ${new URL(url).host}\r\nConnection: close\r\n\r\n`);
      expect(r.text, url).toMatch(/^HTTP\/1\.1 403/);
    }
    expect(intranet.requests).toHaveLength(0);
    expect(evil.connections).toBe(0);
    expect(await projects(daemon)).toEqual(before);
    const refusals = (await daemon.logs()).filter((l) => l.code === 'E_FORBIDDEN');
    expect(refusals.length).toBeGreaterThanOrEqual(9);
    await stillServes(daemon);
  });

  it('reaches an internal host named in upstreamAllow, without passing on Proxy-Authorization', async () => {
    await writeFile(join(daemon.home, 'config.json'), JSON.stringify({ allow: ['127.0.0.0/8', '10.0.0.0/8'], upstreamAllow: ['127.0.0.1'] }));
    const deadline = Date.now() + 15_000;
    let text = '';
    while (Date.now() < deadline) {
      const r = await rawExchange(
        daemon.address,
        `GET http://127.0.0.1:${intranet.port}/ok HTTP/1.1\r\nHost: 127.0.0.1:${intranet.port}\r\nProxy-Authorization: Basic dTpzZWNyZXQ=\r\nConnection: close\r\n\r\n`,
      );
      text = r.text;
      if (/^HTTP\/1\.1 200/.test(text)) break;
      await new Promise((res) => setTimeout(res, 250));
    }
    expect(text).toMatch(/^HTTP\/1\.1 200/);
    expect(intranet.requests).toHaveLength(1);
    expect(intranet.requests[0]?.['proxy-authorization']).toBeUndefined();
  });
});

describe('clients and credentials', () => {
  it('refuses clients outside the allowed networks', async () => {
    const home = await homeWith('allow-only-10', { allow: ['10.0.0.0/8'] });
    const daemon = await world.startDaemon({ home });
    const r = await rawExchange(daemon.address, 'CONNECT pypi.org:443 HTTP/1.1\r\nHost: pypi.org:443\r\n\r\n');
    expect(r.text).toMatch(/^HTTP\/1\.1 403/);
    expect(r.text).toMatch(/not in the allowed networks/);
    const idx = await rawExchange(daemon.address, 'GET /simple/secpkg/ HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(idx.text).toMatch(/^HTTP\/1\.1 403/);
    expect((await daemon.logs()).some((l) => l.code === 'E_CLIENT_REFUSED')).toBe(true);
    await daemon.stop();
  });

  it('refuses to start on a non-loopback address with neither allow nor auth', async () => {
    const home = join(world.dir, 'open-proxy');
    const r = await world.startDaemon({ home, extraEnv: { PIPCACHE_HOST: '0.0.0.0' } }).then(
      () => null,
      (err: Error) => err,
    );
    expect(r).toBeInstanceOf(Error);
    expect(String(r?.message)).toMatch(/not a loopback address.*allow.*auth/s);
  });

  it('with auth, pip works through the URLs env prints, and requests without the token are refused', async () => {
    const home = await homeWith('auth', { auth: true, upstreamAllow: ['127.0.0.1'] });
    const daemon = await world.startDaemon({ home });
    expect((await stat(join(home, 'auth-token'))).mode & 0o777).toBe(0o600);
    const proxyUrl = new URL(daemon.pipEnv.HTTPS_PROXY ?? '');
    expect(proxyUrl.username).toBe('pipcache');
    expect(proxyUrl.password).toMatch(/^[0-9a-f]{48}$/);
    const bare = `${proxyUrl.protocol}//${proxyUrl.host}`;

    const noCreds = await rawExchange(bare, 'CONNECT pypi.org:443 HTTP/1.1\r\nHost: pypi.org:443\r\n\r\n');
    expect(noCreds.text).toMatch(/^HTTP\/1\.1 407/);
    expect(noCreds.text).toMatch(/Proxy-Authenticate: Basic/);
    const wrong = Buffer.from('pipcache:0000').toString('base64');
    const wrongCreds = await rawExchange(bare, `CONNECT pypi.org:443 HTTP/1.1\r\nHost: pypi.org:443\r\nProxy-Authorization: Basic ${wrong}\r\n\r\n`);
    expect(wrongCreds.text).toMatch(/^HTTP\/1\.1 407/);
    const index = await rawExchange(bare, 'GET /simple/secpkg/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(index.text).toMatch(/^HTTP\/1\.1 401/);
    expect(index.text).toMatch(/WWW-Authenticate: Basic/);
    expect((await daemon.logs()).filter((l) => l.code === 'E_AUTH_REQUIRED').length).toBeGreaterThanOrEqual(3);

    const viaProxy = await (await world.venv()).pip(['install', '--no-cache-dir', 'secpkg'], daemon.pipEnv);
    expect(viaProxy.code, viaProxy.stderr + viaProxy.stdout).toBe(0);
    const indexEnv = JSON.parse((await daemon.cli(['env', '--index', '--json'])).stdout) as Record<string, string>;
    expect(new URL(indexEnv.PIP_INDEX_URL ?? '').password).toBe(proxyUrl.password);
    const viaIndex = await (await world.venv()).pip(['install', '--no-cache-dir', 'requests'], indexEnv);
    expect(viaIndex.code, viaIndex.stderr + viaIndex.stdout).toBe(0);

    // The token is the proxy's, never the upstream's.
    const token = Buffer.from(`pipcache:${proxyUrl.password}`).toString('base64');
    const fwd = await rawExchange(
      bare,
      `GET http://127.0.0.1:${intranet.port}/auth HTTP/1.1\r\nHost: 127.0.0.1:${intranet.port}\r\nProxy-Authorization: Basic ${token}\r\nConnection: close\r\n\r\n`,
    );
    expect(fwd.text).toMatch(/^HTTP\/1\.1 200/);
    expect(intranet.requests.at(-1)?.['proxy-authorization']).toBeUndefined();
    await daemon.stop();
  });
});

describe('two configured indexes listing the same filename', () => {
  let mirror: PlainHttpsServer;
  afterAll(async () => {
    await mirror?.close();
  });

  it('keeps each index\'s record, and export takes the file from the index that comes first', async () => {
    // Another build under the same filename: other bytes, other sha256.
    const [other] = await buildPackages([{ name: 'dup', version: '1.0', payloadBytes: 200 }], join(world.dir, 'mirror-dist'));
    const ours = world.file('dup', '1.0');
    expect(other?.filename).toBe(ours.filename);
    expect(other?.sha256).not.toBe(ours.sha256);
    mirror = await startPlainHttpsServer(world.ca, 'mirror.example', other ? [other] : []);
    const home = await homeWith('two-indexes', { interceptHosts: ['pypi.org', 'files.pythonhosted.org', 'mirror.example'] });
    const daemon = await world.startDaemon({ home, resolve: mirror.resolve });
    const client = proxyClient(daemon.address, daemon.pipEnv.PIP_CERT ?? '');
    try {
      for (const origin of ['https://mirror.example', 'https://pypi.org']) {
        expect((await client.get(`${origin}/simple/dup/`, { accept: 'text/html' })).status).toBe(200);
      }
      const fromMirror = await client.get(`https://mirror.example/files/${encodeURIComponent(ours.filename)}`);
      expect(createHash('sha256').update(fromMirror.body).digest('hex')).toBe(other?.sha256);
      const page = (await client.get('https://pypi.org/simple/dup/', { accept: 'text/html' })).body.toString();
      expect(page).toContain(`sha256=${ours.sha256}`);
      expect(page).not.toContain(other?.sha256 ?? 'x');
    } finally {
      await client.close();
    }
    const out = join(world.dir, 'dup-export');
    const r = await daemon.cli(['export', out, 'dup==1.0']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(createHash('sha256').update(await readFile(join(out, ours.filename))).digest('hex')).toBe(ours.sha256);
    await daemon.stop();
  });
});
