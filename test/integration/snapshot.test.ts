import { existsSync } from 'node:fs';
import { mkdir, readdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBackendWheels, bundledWheels, type BuiltFile } from '../fixtures/packages.js';
import type { Venv } from '../helpers/venv.js';
import type { TestDaemon } from '../helpers/daemon.js';
import { createWorld, type World } from '../helpers/world.js';

let world: World;
let dir: string;
let daemon: TestDaemon;
let home: string;

const venv = (): Promise<Venv> => world.venv();
const start = (): Promise<TestDaemon> => world.startDaemon({ home });
const file = (project: string, version: string): BuiltFile => world.file(project, version);

const PYPROJECT = `[build-system]
requires = ["setuptools>=40.8.0", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "myproj"
version = "0.1.0"
dependencies = ["snapa>=1.0", "snapb"]

[project.optional-dependencies]
fast = ["snapfast"]

[tool.setuptools]
packages = ["myproj"]
`;

async function makeProject(name: string, extra: Record<string, string> = {}): Promise<string> {
  const p = join(dir, name);
  await mkdir(join(p, 'myproj'), { recursive: true });
  await writeFile(join(p, 'myproj', '__init__.py'), 'VERSION = "0.1.0"\n');
  for (const [f, text] of Object.entries(extra)) await writeFile(join(p, f), text);
  return p;
}

/** Stops the daemon, installs from DIR with no proxy and no index, restarts the daemon. */
async function installOffline(args: string[], cwd: string): Promise<{ code: number | null; stderr: string; venv: Venv }> {
  await daemon.stop();
  try {
    const v = await venv();
    const r = await v.pip(['install', '--no-cache-dir', '--no-index', '--find-links', join(cwd, 'packages'), ...args], { PWD: cwd }, 180_000);
    return { code: r.code, stderr: r.stderr + r.stdout, venv: v };
  } finally {
    daemon = await start();
  }
}

beforeAll(async () => {
  world = await createWorld(
    'snapshot',
    [
      { name: 'snapa', version: '1.0' },
      { name: 'snapa', version: '1.2' },
      { name: 'snapb', version: '2.0', requires: ['snapc'] },
      { name: 'snapc', version: '0.3' },
      { name: 'snapfast', version: '1.0' },
    ],
    { extraWheels: [...buildBackendWheels(), ...bundledWheels().filter((p) => p.includes('/pip-'))] },
  );
  dir = world.dir;
  home = join(dir, 'home');
  daemon = await start();
});

afterAll(async () => {
  await world?.close();
});

describe('pipcache export DIR with no requirements: a snapshot of the project', () => {
  it('pyproject.toml: installs the project itself offline, its build backend included', async () => {
    const proj = await makeProject('pyproj', { 'pyproject.toml': PYPROJECT });
    const online = await (await venv()).pip(['install', '--no-cache-dir', `${proj}[fast]`], daemon.pipEnv, 180_000);
    expect(online.code, online.stderr + online.stdout).toBe(0);
    const r = await daemon.cli(['export', './packages', '--extra', 'fast'], 120_000, { cwd: proj });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/using pyproject/);
    expect(r.stdout).toMatch(/pip install --no-index --find-links \.\/packages '?\.\[fast\]'?/);
    const names = await readdir(join(proj, 'packages'));
    for (const f of [file('snapa', '1.2'), file('snapb', '2.0'), file('snapc', '0.3'), file('snapfast', '1.0')]) expect(names).toContain(f.filename);
    expect(names.some((f) => f.startsWith('setuptools-'))).toBe(true);
    expect(names.some((f) => f.startsWith('wheel-'))).toBe(true);
    const off = await installOffline([`${proj}[fast]`], proj);
    expect(off.code, off.stderr).toBe(0);
    expect((await off.venv.python(['-c', 'import myproj, snapa, snapb, snapc, snapfast'])).code).toBe(0);
  });

  it('requirements.txt', async () => {
    const proj = await makeProject('reqproj', { 'requirements.txt': 'snapb\nsnapa==1.0\n' });
    const r = await daemon.cli(['export', './packages'], 120_000, { cwd: proj });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/using requirements/);
    expect(r.stdout).toContain('pip install --no-index --find-links ./packages -r requirements.txt');
    expect((await readdir(join(proj, 'packages'))).sort()).toEqual(
      [file('snapa', '1.0'), file('snapb', '2.0'), file('snapc', '0.3')].map((f) => f.filename).sort(),
    );
    const off = await installOffline(['-r', join(proj, 'requirements.txt')], proj);
    expect(off.code, off.stderr).toBe(0);
  });

  it('pylock.toml: exactly the pinned set, honouring markers', async () => {
    const lock = [
      'lock-version = "1.0"',
      'created-by = "hand"',
      '',
      '[[packages]]',
      'name = "snapa"',
      'version = "1.0"',
      '',
      '[[packages]]',
      'name = "snapfast"',
      'version = "1.0"',
      "marker = \"sys_platform == 'win32'\"",
      '',
      '[[packages]]',
      'name = "snapc"',
      'version = "0.3"',
      '',
    ].join('\n');
    const proj = await makeProject('lockproj', { 'pylock.toml': lock, 'requirements.txt': 'snapb\n' });
    const r = await daemon.cli(['export', './packages'], 120_000, { cwd: proj });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/using pylock/);
    expect((await readdir(join(proj, 'packages'))).sort()).toEqual([file('snapa', '1.0'), file('snapc', '0.3')].map((f) => f.filename).sort());
    const off = await installOffline(['snapa==1.0', 'snapc==0.3'], proj);
    expect(off.code, off.stderr).toBe(0);
  });

  it('an activated virtualenv: every installed distribution, pip and setuptools included', async () => {
    const v = await venv();
    const inst = await v.pip(['install', '--no-cache-dir', 'snapb'], daemon.pipEnv);
    expect(inst.code, inst.stderr).toBe(0);
    const proj = await makeProject('envproj');
    const r = await daemon.cli(['export', './packages'], 120_000, { cwd: proj, env: { VIRTUAL_ENV: v.dir } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/using venv/);
    const names = await readdir(join(proj, 'packages'));
    for (const prefix of ['snapb-2.0', 'snapc-0.3', 'pip-', 'setuptools-']) expect(names.some((f) => f.startsWith(prefix)), prefix).toBe(true);
  });

  it('--check passes on a complete directory and lists exactly what is missing after one file is removed', async () => {
    const proj = join(dir, 'reqproj');
    const ok = await daemon.cli(['export', '--check', './packages'], 60_000, { cwd: proj });
    expect(ok.code, ok.stderr + ok.stdout).toBe(0);
    await unlink(join(proj, 'packages', file('snapc', '0.3').filename));
    const bad = await daemon.cli(['export', '--check', './packages'], 60_000, { cwd: proj });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(file('snapc', '0.3').filename);
    expect(bad.stdout).not.toContain(file('snapb', '2.0').filename);
  });

  it('fails clearly, writing nothing: no source, broken pyproject.toml, dynamic dependencies', async () => {
    const empty = await makeProject('empty');
    const none = await daemon.cli(['export', './packages'], 60_000, { cwd: empty });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/pylock\.toml, requirements\.txt, pyproject\.toml/);
    expect(existsSync(join(empty, 'packages'))).toBe(false);
    const broken = await makeProject('broken', { 'pyproject.toml': '[project]\nname = "x"\ndependencies = ["a",\n' });
    const b = await daemon.cli(['export', './packages'], 60_000, { cwd: broken });
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/pyproject\.toml:\d+/);
    expect(existsSync(join(broken, 'packages'))).toBe(false);
    const dyn = await makeProject('dyn', { 'pyproject.toml': '[project]\nname = "x"\nversion = "1"\ndynamic = ["dependencies"]\n' });
    const d = await daemon.cli(['export', './packages'], 60_000, { cwd: dyn });
    expect(d.code).toBe(2);
    expect(d.stderr).toMatch(/dynamic.*-r FILE/);
    expect(existsSync(join(dyn, 'packages'))).toBe(false);
  });
});
