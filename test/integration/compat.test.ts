import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDaemon } from '../helpers/daemon.js';
import { createWorld, type World } from '../helpers/world.js';

/**
 * The same cached closure through the proxy from the Pythons these machines
 * carry: pip 22.0 (3.7), 23.2 (3.12, HTTP/1.1 CONNECT with Host) and 24.2
 * (3.13, strict X.509 checks on the local CA).
 */
const PYTHONS = ['3.7.16', '3.12.1', '3.13.0'].map((v) => `/root/.pyenv/versions/${v}/bin/python${v.split('.').slice(0, 2).join('.')}`);

let world: World;
let daemon: TestDaemon;

beforeAll(async () => {
  world = await createWorld('compat', [
    { name: 'compat-app', version: '1.0', requires: ['compat-dep'] },
    { name: 'compat-dep', version: '1.0' },
  ]);
  daemon = await world.startDaemon();
});

afterAll(async () => {
  await world?.close();
});

describe('pip versions through the proxy', () => {
  // Every interpreter is required: a missing one fails its test rather than dropping out of the list.
  it.each(PYTHONS)('%s installs the closure, and each archive is fetched upstream once', async (python) => {
    expect(existsSync(python), `${python} is not installed on this machine`).toBe(true);
    const v = await world.venv(python);
    const r = await v.pip(['install', '--no-cache-dir', 'compat-app'], daemon.pipEnv);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    for (const f of world.files) expect(world.pypi.counters.files.get(f.filename), f.filename).toBe(1);
  });
});
