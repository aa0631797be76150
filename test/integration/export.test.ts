import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBackendWheels, type BuiltFile } from '../fixtures/packages.js';
import type { FakePypi } from '../fixtures/fake-pypi.js';
import type { Venv } from '../helpers/venv.js';
import type { TestDaemon } from '../helpers/daemon.js';
import { createWorld, type World } from '../helpers/world.js';
import { waitFor } from '../helpers/wait.js';

let world: World;
let dir: string;
let pypi: FakePypi;
let daemon: TestDaemon;
let home: string;

const venv = (): Promise<Venv> => world.venv();
const file = (project: string, version: string): BuiltFile => world.file(project, version);
const listing = async (d: string): Promise<string[]> => (await readdir(d)).sort();
const start = (h = home): Promise<TestDaemon> => world.startDaemon({ home: h });

beforeAll(async () => {
  world = await createWorld(
    'export',
    [
      {
        name: 'exapp',
        version: '1.0',
        requires: ['exlib>=1.0', 'winonly; sys_platform == "win32"', 'linuxonly; sys_platform == "linux"', 'speedup; extra == "fast"'],
        extras: ['fast'],
      },
      { name: 'exlib', version: '1.0' },
      { name: 'exlib', version: '1.1' },
      { name: 'winonly', version: '1.0' },
      { name: 'linuxonly', version: '1.0' },
      { name: 'speedup', version: '1.0' },
      { name: 'unrelated', version: '1.0' },
      { name: 'fetchme', version: '2.0', requires: ['exlib'] },
      { name: 'dropped', version: '0.1' },
      { name: 'usesdist', version: '1.0', requires: ['sdistdep'] },
      { name: 'sdistdep', version: '1.0', kind: 'sdist', buildBackend: 'setuptools' },
    ],
    { extraWheels: buildBackendWheels() },
  );
  ({ dir, pypi } = world);
  home = join(dir, 'home');
  daemon = await start();
  for (const spec of ['exapp[fast]', 'unrelated', 'usesdist']) {
    const r = await (await venv()).pip(['install', '--no-cache-dir', spec], daemon.pipEnv);
    if (r.code !== 0) throw new Error(`priming install of ${spec} failed: ${r.stderr}`);
  }
});

afterAll(async () => {
  await world?.close();
});

describe('pipcache export', () => {
  it('writes exactly the closure, which installs with --no-index after the daemon is gone', async () => {
    const req = join(dir, 'requirements.txt');
    await writeFile(req, '# the app\nexapp[fast]  # with the fast extra\n');
    const out = join(dir, 'packages');
    const r = await daemon.cli(['export', out, '-r', req]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('pip install --no-index --find-links');
    expect(await listing(out)).toEqual(
      [file('exapp', '1.0'), file('exlib', '1.1'), file('linuxonly', '1.0'), file('speedup', '1.0')].map((f) => f.filename).sort(),
    );
    await daemon.stop();
    try {
      const v = await venv();
      const inst = await v.pip(['install', '--no-index', '--find-links', out, '-r', req], {});
      expect(inst.code, inst.stderr).toBe(0);
      expect((await v.python(['-c', 'import exapp, exlib, linuxonly, speedup; print(exlib.__version__)'])).stdout.trim()).toBe('1.1');
    } finally {
      daemon = await start();
    }
  });

  it('follows markers and extras for the target: no extra, and a Windows target', async () => {
    const plain = join(dir, 'plain');
    const r = await daemon.cli(['export', plain, 'exapp', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(await listing(plain)).toEqual([file('exapp', '1.0'), file('exlib', '1.1'), file('linuxonly', '1.0')].map((f) => f.filename).sort());
    const json = JSON.parse(r.stdout) as { files: number; written: { filename: string; action: string }[] };
    expect(json.files).toBe(3);
    expect(json.written.every((w) => w.action === 'linked' || w.action === 'copied')).toBe(true);
    // Online, a Windows target's extra dependency is fetched through the daemon.
    const win = join(dir, 'win');
    const w = await daemon.cli(['export', win, 'exapp', '--python-version', '3.11', '--platform', 'win_amd64']);
    expect(w.code, w.stderr).toBe(0);
    expect(await listing(win)).toEqual([file('exapp', '1.0'), file('exlib', '1.1'), file('winonly', '1.0')].map((f) => f.filename).sort());
  });

  it('--no-deps exports only the named requirements', async () => {
    const out = join(dir, 'no-deps');
    const r = await daemon.cli(['export', out, 'exapp', '--no-deps', '--no-proof']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(await listing(out)).toEqual([file('exapp', '1.0').filename]);
  });

  it('adds the build requirements of sdist-only packages, so they build from DIR', async () => {
    const out = join(dir, 'with-sdist');
    const r = await daemon.cli(['export', out, 'usesdist']);
    expect(r.code, r.stderr).toBe(0);
    const names = await listing(out);
    expect(names).toContain(file('sdistdep', '1.0').filename);
    expect(names.some((f) => f.startsWith('setuptools-'))).toBe(true);
    expect(names.some((f) => f.startsWith('wheel-'))).toBe(true);
    await daemon.stop();
    try {
      const v = await venv();
      const inst = await v.pip(['install', '--no-cache-dir', '--no-index', '--find-links', out, 'usesdist'], {}, 180_000);
      expect(inst.code, inst.stderr + inst.stdout).toBe(0);
      expect((await v.python(['-c', 'import usesdist, sdistdep'])).code).toBe(0);
    } finally {
      daemon = await start();
    }
  });

  it('offline, a missing package fails the export cleanly and leaves DIR untouched', async () => {
    await daemon.cli(['offline', 'on']);
    pypi.resetCounters();
    try {
      const target = join(dir, 'offline-out');
      await mkdir(target);
      await writeFile(join(target, 'keep.txt'), 'mine');
      const r = await daemon.cli(['export', target, 'exapp', 'fetchme', 'nosuchthing==1.0']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('fetchme');
      expect(r.stderr).toContain('nosuchthing');
      expect(await listing(target)).toEqual(['keep.txt']);
      expect(world.upstreamTraffic()).toEqual({ connections: 0, requests: [] });
    } finally {
      await daemon.cli(['offline', 'off']);
    }
  });

  it('online, fetches what the cache lacks through the daemon', async () => {
    const out = join(dir, 'fetched');
    const before = pypi.counters.files.get(file('fetchme', '2.0').filename) ?? 0;
    const r = await daemon.cli(['export', out, 'fetchme']);
    expect(r.code, r.stderr).toBe(0);
    expect(await listing(out)).toEqual([file('exlib', '1.1'), file('fetchme', '2.0')].map((f) => f.filename).sort());
    expect(pypi.counters.files.get(file('fetchme', '2.0').filename)).toBe(before + 1);
  });

  it('skips identical files, deletes nothing without --prune, and prunes with it', async () => {
    const out = join(dir, 'prune');
    expect((await daemon.cli(['export', out, 'exlib'])).code).toBe(0);
    await copyFile(file('unrelated', '1.0').path, join(out, file('unrelated', '1.0').filename));
    await writeFile(join(out, 'README'), 'not an archive');
    const again = await daemon.cli(['export', out, 'exlib']);
    expect(again.stdout).toContain('1 already there');
    expect(await listing(out)).toContain(file('unrelated', '1.0').filename);
    const pruned = await daemon.cli(['export', out, 'exlib', '--prune']);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(await listing(out)).toEqual(['README', file('exlib', '1.1').filename].sort());
  });

  it('--check passes on a complete directory and lists exactly what is missing', async () => {
    const out = join(dir, 'packages');
    const ok = await daemon.cli(['export', '--check', out, 'exapp[fast]']);
    expect(ok.code, ok.stderr + ok.stdout).toBe(0);
    await unlink(join(out, file('speedup', '1.0').filename));
    const bad = await daemon.cli(['export', '--check', out, 'exapp[fast]', '--json']);
    expect(bad.code).toBe(1);
    const res = JSON.parse(bad.stdout) as { lacking: { filename: string }[] };
    expect(res.lacking.map((f) => f.filename)).toEqual([file('speedup', '1.0').filename]);
    expect(existsSync(join(out, file('speedup', '1.0').filename))).toBe(false);
  });
});

describe('pipcache import', () => {
  it('imports an exported directory into a fresh cache that then installs offline', async () => {
    const src = join(dir, 'packages');
    expect((await daemon.cli(['export', src, 'exapp[fast]'])).code).toBe(0);
    await writeFile(join(src, 'notes.txt'), 'hello');
    await writeFile(join(src, 'broken-1.0-py3-none-any.whl'), 'not a zip');
    const fresh = await start(join(dir, 'home2'));
    try {
      const r = await fresh.cli(['import', src, '--json']);
      expect(r.code, r.stderr).toBe(0);
      const res = JSON.parse(r.stdout) as { imported: unknown[]; skipped: { path: string }[] };
      expect(res.imported).toHaveLength(4);
      expect(res.skipped.map((s) => s.path.replace(/.*\//, '')).sort()).toEqual(['broken-1.0-py3-none-any.whl', 'notes.txt']);
      expect((await fresh.cli(['offline', 'on'])).code).toBe(0);
      pypi.resetCounters();
      const inst = await (await venv()).pip(['install', '--no-cache-dir', 'exapp[fast]'], fresh.pipEnv);
      expect(inst.code, inst.stderr + inst.stdout).toBe(0);
      expect(world.upstreamTraffic()).toEqual({ connections: 0, requests: [] });
    } finally {
      await fresh.stop();
    }
  });

  it('imports what is dropped in the inbox, and applies config changes without a restart', async () => {
    const dropped = file('dropped', '0.1');
    await copyFile(dropped.path, join(home, 'inbox', `.${dropped.filename}.part`));
    await copyFile(join(home, 'inbox', `.${dropped.filename}.part`), join(home, 'inbox', dropped.filename));
    await waitFor('the inbox import', async () => {
      const ls = await daemon.cli(['ls', 'dropped', '--json']);
      return ls.code === 0 && (JSON.parse(ls.stdout) as { files: { stored: boolean }[] }).files.some((f) => f.stored);
    });
    expect((await daemon.cli(['ls', 'dropped'])).stdout).toMatch(/cached, imported/);
    await waitFor('the inbox to empty', async () => !existsSync(join(home, 'inbox', dropped.filename)));
    await writeFile(join(home, 'config.json'), '{ "offline": tru');
    await waitFor('the rejection in the log', async () => (await daemon.logs()).some((l) => l.msg?.includes('config change rejected')));
    expect((await daemon.cli(['status'])).code).toBe(0);
    await writeFile(join(home, 'config.json'), JSON.stringify({ offline: true }));
    await waitFor('offline from the config', async () => (JSON.parse((await daemon.cli(['status', '--json'])).stdout) as { offline: boolean }).offline);
    await writeFile(join(home, 'config.json'), JSON.stringify({ offline: false }));
    await waitFor('online again', async () => !(JSON.parse((await daemon.cli(['status', '--json'])).stdout) as { offline: boolean }).offline);
  });
});
