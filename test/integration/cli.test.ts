import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa, type TestCa } from '../fixtures/test-ca.js';
import { buildPackages } from '../fixtures/packages.js';
import { startFakePypi, type FakePypi } from '../fixtures/fake-pypi.js';
import { CLI, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { proxyClient } from '../helpers/proxy-client.js';
import { run } from '../helpers/proc.js';

let dir: string;
let ca: TestCa;
let pypi: FakePypi;
let daemon: TestDaemon;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pipcache-cli-'));
  ca = await createTestCa(join(dir, 'ca'));
  pypi = await startFakePypi({ ca, files: await buildPackages([{ name: 'clipkg', version: '1.0' }], join(dir, 'dist')) });
  daemon = await startDaemon({ resolve: pypi.resolve, caCertPath: ca.certPath });
});

afterAll(async () => {
  await daemon?.stop();
  await pypi?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const mode = async (p: string): Promise<number> => (await stat(p)).mode & 0o777;
const cliIn = (home: string, args: string[]) => run(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, PIPCACHE_HOME: home }, timeoutMs: 30_000 });

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
});
