/**
 * A closure of real published wheels, unchanged (pandas 3.0, whose METADATA
 * folds a multi-line License with whitespace-only lines before its
 * Requires-Dist, and numpy with long manylinux tags): installed through
 * pipcache in proxy and index mode, imported into another cache, exported
 * from both, and installed from the export with no index.
 */
import { writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realWheels } from '../fixtures/real-wheels.js';
import type { TestDaemon } from '../helpers/daemon.js';
import { createWorld, type World } from '../helpers/world.js';

const CLOSURE = [
  'pandas-3.0.6-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl',
  'numpy-2.4.6-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl',
  'python_dateutil-2.9.0.post0-py2.py3-none-any.whl',
  'six-1.17.0-py2.py3-none-any.whl',
  'tzdata-2026.4-py2.py3-none-any.whl',
];
/** Installs of numpy and pandas, several times over: minutes on a loaded machine. */
const TEST_MS = 900_000;
const NO_CONFIG = { PIP_CONFIG_FILE: '/dev/null' };
const CHECK = 'import pandas, numpy, dateutil, six, tzdata; print(pandas.__version__, numpy.__version__)';

let world: World;
let daemon: TestDaemon;
let wheels: string[];
let requirements: string;

beforeAll(async () => {
  wheels = realWheels(CLOSURE);
  world = await createWorld('real-closure', [], { extraWheels: wheels });
  daemon = await world.startDaemon();
  requirements = join(world.dir, 'requirements.txt');
  await writeFile(requirements, 'pandas==3.0.6\ntzdata\n');
});
afterAll(async () => {
  await world?.close();
});

interface ExportJson {
  files: number;
  proof: { status: string; rounds: number };
}

async function installFrom(dir: string): Promise<void> {
  const v = await world.venv();
  const inst = await v.pip(['install', '--no-cache-dir', '--no-index', '--find-links', dir, '-r', requirements], NO_CONFIG, 300_000);
  expect(inst.code, inst.stderr + inst.stdout).toBe(0);
  const r = await v.python(['-c', CHECK], {}, 120_000);
  expect(r.stdout.trim(), r.stderr).toBe('3.0.6 2.4.6');
}

describe('real pandas + numpy wheels', () => {
  it('install through the proxy, then in index mode from the cache', async () => {
    const v = await world.venv();
    const proxied = await v.pip(['install', '--no-cache-dir', '-r', requirements], daemon.pipEnv, 300_000);
    expect(proxied.code, proxied.stderr + proxied.stdout).toBe(0);
    expect((await v.python(['-c', CHECK], {}, 120_000)).stdout.trim()).toBe('3.0.6 2.4.6');
    for (const f of CLOSURE) expect(world.pypi.counters.files.get(f), f).toBe(1);

    const indexEnv = JSON.parse((await daemon.cli(['env', '--index', '--json'])).stdout) as Record<string, string>;
    const before = world.archiveFetches();
    const indexed = await (await world.venv()).pip(['install', '--no-cache-dir', '-r', requirements], indexEnv, 300_000);
    expect(indexed.code, indexed.stderr + indexed.stdout).toBe(0);
    expect(world.archiveFetches()).toBe(before);
  }, TEST_MS);

  it('export from the cache that installed them holds the whole closure and installs with no index', async () => {
    const out = join(world.dir, 'from-proxy');
    const r = await daemon.cli(['export', out, '-r', requirements, '--json'], 600_000);
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout) as ExportJson;
    expect(res.files).toBe(CLOSURE.length);
    expect(res.proof).toMatchObject({ status: 'proved', rounds: 1 });
    await installFrom(out);
  }, TEST_MS);

  it('imported into another cache, they export offline and install with no index', async () => {
    const other = await world.startDaemon();
    try {
      const imp = await other.cli(['import', ...wheels, '--json'], 300_000);
      expect(imp.code, imp.stderr).toBe(0);
      expect((JSON.parse(imp.stdout) as { imported: { filename: string }[] }).imported.map((f) => f.filename).sort()).toEqual([...CLOSURE].sort());
      expect((await other.cli(['offline', 'on'])).code).toBe(0);
      world.pypi.resetCounters();
      const out = join(world.dir, 'from-import');
      const r = await other.cli(['export', out, '-r', requirements, '--json'], 600_000);
      expect(r.code, r.stderr).toBe(0);
      const res = JSON.parse(r.stdout) as ExportJson & { written: { filename: string }[] };
      expect(res.written.map((w) => basename(w.filename)).sort()).toEqual([...CLOSURE].sort());
      expect(res.proof.status).toBe('proved');
      expect(world.pypi.counters.connections).toBe(0);
      await installFrom(out);
    } finally {
      await other.stop();
    }
  }, TEST_MS);
});
