import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa, type TestCa } from '../fixtures/test-ca.js';
import { buildPackages, type BuiltFile } from '../fixtures/packages.js';
import { startFakePypi, type FakePypi } from '../fixtures/fake-pypi.js';
import { createVenv } from '../helpers/venv.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';

/**
 * The same cached closure through the proxy from the Pythons these machines
 * carry: pip 22.0 (3.7), 23.2 (3.12, HTTP/1.1 CONNECT with Host) and 24.2
 * (3.13, strict X.509 checks on the local CA).
 */
const PYTHONS = ['3.7.16', '3.12.1', '3.13.0']
  .map((v) => `/root/.pyenv/versions/${v}/bin/python${v.split('.').slice(0, 2).join('.')}`)
  .filter((p) => existsSync(p));

let dir: string;
let ca: TestCa;
let files: BuiltFile[];
let pypi: FakePypi;
let daemon: TestDaemon;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pipcache-compat-'));
  ca = await createTestCa(join(dir, 'ca'));
  files = await buildPackages(
    [
      { name: 'compat-app', version: '1.0', requires: ['compat-dep'] },
      { name: 'compat-dep', version: '1.0' },
    ],
    join(dir, 'dist'),
  );
  pypi = await startFakePypi({ ca, files });
  daemon = await startDaemon({ resolve: pypi.resolve, caCertPath: ca.certPath });
});

afterAll(async () => {
  await daemon?.stop();
  await pypi?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('pip versions through the proxy', () => {
  it('finds the interpreters it is meant to test', () => {
    expect(PYTHONS.length).toBeGreaterThan(0);
  });

  it.each(PYTHONS)('%s installs the closure, and each archive is fetched upstream once', async (python) => {
    const v = await createVenv(join(dir, python.replace(/\W+/g, '-')), python);
    const r = await v.pip(['install', '--no-cache-dir', 'compat-app'], daemon.pipEnv);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    for (const f of files) expect(pypi.counters.files.get(f.filename), f.filename).toBe(1);
  });
});
