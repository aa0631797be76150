import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { open, type Key } from 'lmdb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorld, type World } from '../helpers/world.js';

/**
 * A catalog written by a pipcache from before the schema version (NUL-joined
 * string keys, records naming their host `index`, in the home's `index/`
 * directory) is migrated at start: every file it held is served again.
 */
let world: World;

// Names long enough that the old key encoding hid them from page listings.
const LONG = 'Zope.Interface_Extensions-For-Long-Index-Keys';
const LONG_NORMALIZED = 'zope-interface-extensions-for-long-index-keys';

beforeAll(async () => {
  world = await createWorld('migration', [
    { name: LONG, version: '1.0', requires: ['migshort'] },
    { name: LONG, version: '2.0', requires: ['migshort'] },
    { name: 'migshort', version: '1.0', kind: 'both' },
  ]);
});

afterAll(async () => {
  await world?.close();
});

/** A record of layout 1 or 2 names its host `index`. */
function withIndexField<T extends { origin?: string }>(value: T): Omit<T, 'origin'> & { index?: string } {
  const { origin, ...rest } = value;
  return { ...rest, index: origin };
}

/** Rewrites a catalog in layout 1: NUL-joined string keys, `index` fields and no schema version. */
async function downgradeToLayout1(catalogPath: string): Promise<number> {
  const root = open({ path: catalogPath, compression: false });
  const files = root.openDB<{ project: string; version: string; filename: string; origin?: string }, Key>({ name: 'files' });
  const pages = root.openDB<{ origin?: string; project: string }, Key>({ name: 'pages' });
  const urls = root.openDB<{ key: string[]; metadata: boolean }, string>({ name: 'urls' });
  const settings = root.openDB<unknown, string>({ name: 'settings' });
  let count = 0;
  await root.transaction(() => {
    for (const { key, value } of [...files.getRange({})]) {
      files.remove(key);
      files.put(`${value.project}\u0000${value.version}\u0000${value.filename}`, withIndexField(value) as never);
      count++;
    }
    for (const { key, value } of [...pages.getRange({})]) {
      pages.remove(key);
      pages.put(`${value.origin}\u0000${value.project}`, withIndexField(value) as never);
    }
    for (const { key, value } of [...urls.getRange({})]) urls.put(key, { ...value, key: value.key.slice(0, 3).join('\u0000') } as never);
    settings.remove('schemaVersion');
  });
  await root.close();
  return count;
}

describe('a catalog from an older layout', () => {
  it('is migrated at start; every stored file is served again, offline', async () => {
    const home = join(world.dir, 'home');
    const first = await world.startDaemon({ home });
    const cold = await (await world.venv()).pip(['install', '--no-cache-dir', `${LONG}==2.0`], first.pipEnv);
    expect(cold.code, cold.stderr + cold.stdout).toBe(0);
    await first.stop();

    // An older pipcache kept the catalog in `index/`.
    await rename(join(home, 'catalog'), join(home, 'index'));
    const records = await downgradeToLayout1(join(home, 'index'));
    expect(records).toBeGreaterThanOrEqual(4);
    await writeFile(join(home, 'config.json'), JSON.stringify({ offline: true }));
    world.pypi.resetCounters();

    const second = await world.startDaemon({ home });
    const logs = await second.logs();
    const migrated = logs.find((l) => /migrated the catalog from layout 1 to 4/.test(l.msg));
    expect(migrated, 'the daemon says it migrated the catalog').toBeDefined();
    expect(migrated?.dropped).toBe(0);
    expect(migrated?.files).toBe(records);

    const warm = await (await world.venv()).pip(['install', '--no-cache-dir', `${LONG}==2.0`], second.pipEnv);
    expect(warm.code, warm.stderr + warm.stdout).toBe(0);
    expect(world.pypi.counters.connections).toBe(0);
    expect(world.pypi.counters.requests).toHaveLength(0);

    const ls = JSON.parse((await second.cli(['ls', LONG_NORMALIZED, '--json'])).stdout) as { files: { filename: string; stored: boolean }[] };
    const stored = ls.files.filter((f) => f.stored).map((f) => f.filename);
    expect(stored).toContain(world.file(LONG_NORMALIZED, '2.0').filename);
    await second.stop();
  });
});
