import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { chmod, mkdir, open, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuiltFile } from '../fixtures/packages.js';
import { pythonhostedPath } from '../fixtures/simple-pages.js';
import type { FakePypi } from '../fixtures/fake-pypi.js';
import { CLI, type TestDaemon } from '../helpers/daemon.js';
import { proxyClient } from '../helpers/proxy-client.js';
import { run } from '../helpers/proc.js';
import { createWorld, type World } from '../helpers/world.js';
import { waitFor } from '../helpers/wait.js';

let world: World;
let dir: string;
let pypi: FakePypi;
let daemon: TestDaemon;
let files: BuiltFile[];

beforeAll(async () => {
  world = await createWorld('cli', [
    { name: 'clipkg', version: '1.0' },
    { name: 'slowpkg', version: '1.0', payloadBytes: 30_000_000 },
  ]);
  ({ dir, pypi, files } = world);
  daemon = await world.startDaemon();
});

afterAll(async () => {
  await world?.close();
});

const mode = async (p: string): Promise<number> => (await stat(p)).mode & 0o777;
const cliIn = (home: string, args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, PIPCACHE_HOME: home, ...env }, timeoutMs: 30_000 });

describe('the CLI and the daemon around it', () => {
  it('keeps the control socket and the CA key private', async () => {
    expect(await mode(join(daemon.home, 'daemon.sock'))).toBe(0o600);
    expect(await mode(join(daemon.home, 'ca', 'ca-key.pem'))).toBe(0o600);
  });

  it('says a second start is already running, and exits 0', async () => {
    const r = await daemon.cli(['start']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/already running at http:\/\/127\.0\.0\.1:\d+/);
  });

  it('prints one readable log line per request, with the cache outcome', async () => {
    const client = proxyClient(daemon.address, daemon.pipEnv.PIP_CERT ?? '');
    try {
      expect((await client.get('https://pypi.org/simple/clipkg/')).status).toBe(200);
      expect((await client.get('https://pypi.org/simple/clipkg/')).status).toBe(200);
    } finally {
      await client.close();
    }
    await new Promise((r) => setTimeout(r, 300));
    const r = await daemon.cli(['logs']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/INFO\s+GET pypi\.org \/simple\/clipkg\/ miss 200 \d+B \d+ms/);
    expect(r.stdout).toMatch(/INFO\s+GET pypi\.org \/simple\/clipkg\/ hit 200 \d+B \d+ms/);
  });

  it('exits 1 with one line when the daemon is not running, and 2 on usage errors', async () => {
    const home = join(dir, 'nobody-home');
    const st = await cliIn(home, ['status']);
    expect(st.code).toBe(1);
    expect(st.stderr.trim().split('\n')).toHaveLength(1);
    expect(st.stderr).toMatch(/not running.*pipcache start/);
    expect((await cliIn(home, ['frobnicate'])).code).toBe(2);
    expect((await cliIn(home, ['offline', 'maybe'])).code).toBe(2);
    const help = await cliIn(home, ['export', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--prune');
  });

  it('never serves a cached file that was damaged on disk: it is fetched again', async () => {
    const f = files.find((x) => x.project === 'clipkg') as BuiltFile;
    const url = `https://files.pythonhosted.org${pythonhostedPath(f)}`;
    const client = proxyClient(daemon.address, daemon.pipEnv.PIP_CERT ?? '');
    try {
      expect((await client.get(url)).status).toBe(200);
      await daemon.published();
      const blob = join(daemon.home, 'blobs', f.sha256.slice(0, 2), f.sha256);
      expect((await stat(blob)).mode & 0o222).toBe(0); // read-only, so edits through a hardlinked export fail
      await chmod(blob, 0o644);
      const bytes = await readFile(blob);
      bytes[10] = (bytes[10] ?? 0) ^ 0xff;
      await writeFile(blob, bytes);
      const before = pypi.counters.files.get(f.filename) ?? 0;
      const again = await client.get(url);
      expect(again.status).toBe(200);
      expect(createHash('sha256').update(again.body).digest('hex')).toBe(f.sha256);
      expect(pypi.counters.files.get(f.filename)).toBe(before + 1);
      await new Promise((r) => setTimeout(r, 300));
      expect((await daemon.logs()).some((l) => l.msg?.includes('damaged'))).toBe(true);
    } finally {
      await client.close();
    }
  });

  it('verify finds a damaged large file, removes it, and the next request fetches it again', async () => {
    const slow = files.find((x) => x.project === 'slowpkg') as BuiltFile;
    const url = `https://files.pythonhosted.org${pythonhostedPath(slow)}`;
    const client = proxyClient(daemon.address, daemon.pipEnv.PIP_CERT ?? '');
    try {
      expect((await client.get('https://pypi.org/simple/slowpkg/')).status).toBe(200);
      expect((await client.get(url)).status).toBe(200);
      const clean = await daemon.cli(['verify', '--json']);
      expect(clean.code, clean.stderr).toBe(0);
      expect((JSON.parse(clean.stdout) as { damaged: unknown[] }).damaged).toEqual([]);
      const blob = join(daemon.home, 'blobs', slow.sha256.slice(0, 2), slow.sha256);
      await chmod(blob, 0o644);
      const fh = await open(blob, 'r+');
      const one = Buffer.alloc(1);
      await fh.read(one, 0, 1, 1_000_000);
      one[0] = (one[0] ?? 0) ^ 0xff;
      await fh.write(one, 0, 1, 1_000_000);
      await fh.close();
      const r = await daemon.cli(['verify']);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain(`removed ${slow.filename}`);
      expect(existsSync(blob)).toBe(false);
      const again = await client.get(url);
      expect(createHash('sha256').update(again.body).digest('hex')).toBe(slow.sha256);
    } finally {
      await client.close();
    }
  });

  it('says plainly when the port is taken', async () => {
    const port = new URL(daemon.address).port;
    const r = await cliIn(join(dir, 'second-home'), ['start'], { PIPCACHE_PORT: port });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`cannot listen on 127.0.0.1:${port}: the address is in use`);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('refuses to start on a broken config file, naming every problem', async () => {
    const home = join(dir, 'bad-config');
    await rm(home, { recursive: true, force: true });
    await mkdir(home, { recursive: true });
    await writeFile(join(home, 'config.json'), JSON.stringify({ port: 'eighty', colour: 'blue' }));
    const r = await cliIn(home, ['start']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('port');
    expect(r.stderr).toContain('colour');
  });

  it('stop discards a download still in flight after its grace period: nothing half-published', async () => {
    const slow = files.find((f) => f.project === 'slowpkg') as BuiltFile;
    pypi.faults.slow.set(slow.filename, 2_000_000);
    const own = await world.startDaemon();
    const client = proxyClient(own.address, own.pipEnv.PIP_CERT ?? '');
    try {
      expect((await client.get('https://pypi.org/simple/slowpkg/')).status).toBe(200);
      const download = client.get(`https://files.pythonhosted.org${pythonhostedPath(slow)}`).then(
        (r) => r.body.length,
        () => -1,
      );
      // Its own observation: this body is being sent right now (the earlier tests fetched the same file).
      await waitFor('the slow download to be in flight upstream', () => (pypi.inFlight.get(slow.filename) ?? 0) > 0, 10_000, 20);
      await waitFor('part of it in the temp dir', async () => (await readdir(join(own.home, 'tmp'))).length > 0, 10_000, 20);
      expect(pypi.inFlight.get(slow.filename)).toBe(1);
      const stopped = Date.now();
      await own.stop();
      // 30 MB at 2 MB/s outlasts the 10 s grace: stop waits it out, then discards.
      expect(Date.now() - stopped).toBeGreaterThanOrEqual(9_000);
      expect(Date.now() - stopped).toBeLessThan(25_000);
      expect(await download).not.toBe(slow.size);
      expect(existsSync(join(own.home, 'blobs', slow.sha256.slice(0, 2), slow.sha256))).toBe(false);
      expect(await readdir(join(own.home, 'tmp'))).toEqual([]);
      const again = await world.startDaemon({ home: own.home });
      const ls = JSON.parse((await again.cli(['ls', 'slowpkg', '--json'])).stdout) as { files: { stored: boolean }[] };
      expect(ls.files.every((f) => !f.stored)).toBe(true);
      await again.stop();
    } finally {
      pypi.faults.slow.delete(slow.filename);
      await client.close();
      await rm(own.home, { recursive: true, force: true });
    }
  });
});
