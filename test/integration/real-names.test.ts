import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manylinuxTag, type BuiltFile } from '../fixtures/packages.js';
import type { TestDaemon } from '../helpers/daemon.js';
import { createWorld, type World } from '../helpers/world.js';

// A flask-shaped closure with names as PyPI spells them: an uppercase project
// (MarkupSafe), a dotted one (zope.interface), and wheels whose filenames
// carry long compressed manylinux tags, so their index keys run past 64
// characters (`markupsafe`, `3.0.3`, `MarkupSafe-3.0.3-cp311-cp311-manylinux_2_17_x86_64...whl`).

let world: World;
let longWheels: BuiltFile[];
const MODULES = 'import flask, jinja2, markupsafe, zope_interface; print(markupsafe.__version__, zope_interface.__version__)';

beforeAll(async () => {
  const tag = await manylinuxTag();
  world = await createWorld('real-names', [
    { name: 'Flask', version: '3.1.2', requires: ['Jinja2>=3.1.2', 'MarkupSafe>=2.1.1', 'zope.interface>=7'] },
    { name: 'Jinja2', version: '3.1.6', requires: ['MarkupSafe>=2.0'] },
    { name: 'MarkupSafe', version: '2.1.5', wheelTag: tag },
    { name: 'MarkupSafe', version: '3.0.3', wheelTag: tag },
    { name: 'zope.interface', version: '7.2', wheelTag: tag },
  ]);
  longWheels = [world.file('markupsafe', '3.0.3'), world.file('zope-interface', '7.2')];
});

afterAll(async () => {
  await world?.close();
});

async function indexEnv(daemon: TestDaemon): Promise<Record<string, string>> {
  const out = await daemon.cli(['env', '--index', '--json']);
  expect(out.code, out.stderr).toBe(0);
  return JSON.parse(out.stdout) as Record<string, string>;
}

describe.each(['proxy', 'index'] as const)('real-world names through %s mode', (mode) => {
  it('installs the closure cold, warm and offline', async () => {
    const { pypi } = world;
    expect(longWheels.map((f) => f.filename)).toEqual([
      expect.stringMatching(/^MarkupSafe-3\.0\.3-cp3\d+-cp3\d+-manylinux_2_17_\w+\.manylinux2014_\w+\.manylinux_2_28_\w+\.whl$/),
      expect.stringMatching(/^zope\.interface-7\.2-cp3\d+-cp3\d+-manylinux_2_17_\w+\.manylinux2014_\w+\.manylinux_2_28_\w+\.whl$/),
    ]);
    const daemon = await world.startDaemon();
    const env = mode === 'proxy' ? daemon.pipEnv : await indexEnv(daemon);
    const install = async (): Promise<void> => {
      const v = await world.venv();
      const r = await v.pip(['install', '--no-cache-dir', 'flask'], env);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      const imported = await v.python(['-c', MODULES]);
      expect(imported.stdout.trim(), imported.stderr).toBe('3.0.3 7.2');
    };

    pypi.resetCounters();
    await install();
    for (const f of longWheels) expect(pypi.counters.files.get(f.filename), f.filename).toBe(1);
    for (const project of ['markupsafe', 'zope.interface']) {
      const ls = JSON.parse((await daemon.cli(['ls', project, '--json'])).stdout) as { files: { filename: string; stored: boolean }[] };
      const stored = ls.files.filter((f) => f.stored).map((f) => f.filename);
      expect(stored).toEqual(longWheels.filter((f) => f.project === project.replace('.', '-')).map((f) => f.filename));
    }

    pypi.resetCounters();
    await install();
    expect(world.archiveFetches()).toBe(0);
    expect([...pypi.counters.metadata.values()].reduce((a, b) => a + b, 0)).toBe(0);

    expect((await daemon.cli(['offline', 'on'])).code).toBe(0);
    pypi.resetCounters();
    await install();
    expect(pypi.counters.requests).toEqual([]);
    expect(pypi.counters.connections).toBe(0);
    await daemon.stop();
  }, 300_000);
});
