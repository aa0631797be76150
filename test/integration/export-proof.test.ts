/**
 * `pipcache export` proves the directory it writes: a dry-run install from
 * it alone, which runs the build backend's hooks. Build backends ask for
 * more than `[build-system].requires` says (setuptools before 70.1 asks
 * for `wheel` in get_requires_for_build_wheel), and the proof adds it.
 */
import { cp, mkdir, readdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBackendWheels } from '../fixtures/packages.js';
import { realWheels } from '../fixtures/real-wheels.js';
import type { TestDaemon } from '../helpers/daemon.js';
import { createWorld, type World } from '../helpers/world.js';

/** pip with only the directory: no index, no config file (this machine's global pip config names other sources). */
const NO_CONFIG = { PIP_CONFIG_FILE: '/dev/null' };

interface ProofJson {
  files: number;
  written: { filename: string }[];
  lacking?: { filename: string }[];
  proof: { status: string; rounds: number; added: { requirement: string; files: { filename: string }[] }[]; command: string; reason?: string };
}

/** Each test makes throwaway venvs and runs build backends: minutes on a loaded machine. */
const TEST_MS = 600_000;

const listing = async (d: string): Promise<string[]> => (await readdir(d)).sort();

/** A project directory built by `backend`, importable as `module`. */
async function makeProject(dir: string, opts: { name: string; requires: string; backend: string; layout: 'module' | 'package' }): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, 'pyproject.toml'),
    [
      '[build-system]',
      `requires = [${opts.requires}]`,
      `build-backend = "${opts.backend}"`,
      '',
      '[project]',
      `name = "${opts.name}"`,
      'version = "0.1"',
      'description = "a project exported with its build backend"',
      'dependencies = []',
      '',
      ...(opts.backend.startsWith('setuptools') && opts.layout === 'module' ? ['[tool.setuptools]', `py-modules = ["${opts.name}"]`, ''] : []),
    ].join('\n'),
  );
  if (opts.layout === 'module') await writeFile(join(dir, `${opts.name}.py`), 'VALUE = 42\n');
  else {
    await mkdir(join(dir, opts.name));
    await writeFile(join(dir, opts.name, '__init__.py'), '"""A package."""\nVALUE = 42\n');
  }
  return dir;
}

async function installsFrom(world: World, packages: string, project: string, module: string): Promise<void> {
  const v = await world.venv();
  const inst = await v.pip(['install', '--no-cache-dir', '--no-index', '--find-links', packages, project], NO_CONFIG, 180_000);
  expect(inst.code, inst.stderr + inst.stdout).toBe(0);
  const imp = await v.python(['-c', `import ${module}; print(${module}.VALUE)`]);
  expect(imp.stdout.trim(), imp.stderr).toBe('42');
}

describe('with the setuptools bundled with Python 3.11 (65.x, which asks for wheel)', () => {
  let world: World;
  let daemon: TestDaemon;
  let project: string;

  beforeAll(async () => {
    // setuptools 65.5.0 from ensurepip and a real `wheel` wheel: all the fake PyPI serves.
    world = await createWorld('proof-st65', [], { extraWheels: buildBackendWheels() });
    daemon = await world.startDaemon();
    project = await makeProject(join(world.dir, 'st65proj'), {
      name: 'st65proj',
      requires: '"setuptools>=61"',
      backend: 'setuptools.build_meta',
      layout: 'module',
    });
  });
  afterAll(async () => {
    await world?.close();
  });

  it('adds wheel, which the backend asks for, so `pip install --no-index --find-links ./packages .` works', async () => {
    const r = await daemon.cli(['export', './packages', '--json'], 300_000, { cwd: project });
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout) as ProofJson;
    expect(res.proof.status).toBe('proved');
    expect(res.proof.rounds).toBe(2);
    expect(res.proof.added.map((a) => a.requirement)).toEqual(['wheel']);
    const names = await listing(join(project, 'packages'));
    expect(names.filter((f) => f.startsWith('setuptools-'))).toEqual(['setuptools-65.5.0-py3-none-any.whl']);
    expect(names.some((f) => /^wheel-[\d.]+-py3-none-any\.whl$/.test(f))).toBe(true);
    expect(res.written.map((w) => w.filename).sort()).toEqual(names);
    await installsFrom(world, join(project, 'packages'), project, 'st65proj');
  }, TEST_MS);

  it('the text summary says what the proof added', async () => {
    const r = await daemon.cli(['export', './packages-text'], 300_000, { cwd: project });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/proved: pip resolves the set from the directory alone \(2 rounds\)/);
    expect(r.stdout).toMatch(/pip asked for wheel: added wheel-[\d.]+-py3-none-any\.whl/);
  }, TEST_MS);

  it('--check reports wheel missing from a directory without it, and writes nothing', async () => {
    const complete = await daemon.cli(['export', '--check', './packages', '--json'], 300_000, { cwd: project });
    expect(complete.code, complete.stderr + complete.stdout).toBe(0);
    expect((JSON.parse(complete.stdout) as ProofJson).proof.status).toBe('proved');

    const partial = join(project, 'no-wheel');
    await cp(join(project, 'packages'), partial, { recursive: true });
    const wheelFile = (await listing(partial)).find((f) => f.startsWith('wheel-')) as string;
    await unlink(join(partial, wheelFile));
    const before = await listing(partial);
    const r = await daemon.cli(['export', '--check', './no-wheel', '--json'], 300_000, { cwd: project });
    expect(r.code, r.stderr).toBe(1);
    const res = JSON.parse(r.stdout) as ProofJson;
    expect(res.proof.status).toBe('missing');
    expect(res.proof.added.map((a) => a.requirement)).toEqual(['wheel']);
    expect(res.lacking?.map((f) => f.filename)).toEqual([wheelFile]);
    expect(await listing(partial)).toEqual(before);
    const text = await daemon.cli(['export', '--check', './no-wheel'], 300_000, { cwd: project });
    expect(text.code).toBe(1);
    expect(text.stdout).toContain(`lacks 1 of`);
    expect(text.stdout).toContain(wheelFile);
    expect(text.stdout).toMatch(/pip asked for wheel: lacking wheel-/);
  }, TEST_MS);

  it('offline, with wheel not in the cache, the export fails naming wheel', async () => {
    const other = await world.startDaemon();
    try {
      // Only setuptools reaches this cache.
      const v = await world.venv();
      const dl = await v.pip(['download', '--no-cache-dir', '--no-deps', '-d', join(world.dir, 'dl'), 'setuptools>=61'], other.pipEnv);
      expect(dl.code, dl.stderr).toBe(0);
      expect((await other.cli(['offline', 'on'])).code).toBe(0);
      const r = await other.cli(['export', './offline-packages'], 300_000, { cwd: project });
      expect(r.code, r.stdout).toBe(1);
      expect(r.stderr).toMatch(/pip also needs wheel/);
      expect(r.stderr).toMatch(/offline/);
    } finally {
      await other.stop();
    }
  }, TEST_MS);
});

describe('with real wheels of a newer setuptools, hatchling and flit_core', () => {
  let world: World;
  let daemon: TestDaemon;

  beforeAll(async () => {
    world = await createWorld('proof-real', [], {
      extraWheels: realWheels([
        'setuptools-84.0.0-py3-none-any.whl',
        'hatchling-1.32.4-py3-none-any.whl',
        'packaging-26.3-py3-none-any.whl',
        'pathspec-1.1.1-py3-none-any.whl',
        'pluggy-1.6.0-py3-none-any.whl',
        'tomlkit-0.15.1-py3-none-any.whl',
        'trove_classifiers-2026.9.21.13-py3-none-any.whl',
        'flit_core-4.1.0-py3-none-any.whl',
      ]),
    });
    daemon = await world.startDaemon();
  });
  afterAll(async () => {
    await world?.close();
  });

  const backends = [
    { name: 'newst', requires: '"setuptools>=70"', backend: 'setuptools.build_meta', layout: 'module' as const },
    { name: 'hatchproj', requires: '"hatchling"', backend: 'hatchling.build', layout: 'package' as const },
    { name: 'flitproj', requires: '"flit_core>=3.4,<5"', backend: 'flit_core.buildapi', layout: 'package' as const },
  ];
  for (const b of backends) {
    it(`${b.backend}: the export is proved in one round and installs with --no-index`, async () => {
      const project = await makeProject(join(world.dir, b.name), b);
      const r = await daemon.cli(['export', './packages', '--json'], 300_000, { cwd: project });
      expect(r.code, r.stderr).toBe(0);
      const res = JSON.parse(r.stdout) as ProofJson;
      expect(res.proof).toMatchObject({ status: 'proved', rounds: 1, added: [] });
      expect(res.proof.command).toBe('pip install --dry-run --no-index --find-links ./packages .');
      await installsFrom(world, join(project, 'packages'), project, b.name);
    }, TEST_MS);
  }

  it('--no-proof and explicit targets skip the proof and say why', async () => {
    const r = await daemon.cli(['export', join(world.dir, 'np'), 'flit_core', '--no-proof', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as ProofJson).proof).toMatchObject({ status: 'skipped', reason: 'turned off with --no-proof' });
    const t = await daemon.cli(['export', join(world.dir, 'np'), 'flit_core', '--python-version', '3.11']);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toContain('not proved: the target was given with --python-version/--platform');
  }, TEST_MS);
});
