import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LsResult, PinsResult } from '@pipcache/shared';
import type { TestDaemon } from '../helpers/daemon.js';
import { proxyClient } from '../helpers/proxy-client.js';
import { createWorld, type World } from '../helpers/world.js';

let world: World;
let daemon: TestDaemon;
let work: string;

const filename = (project: string, version: string): string => world.file(project, version).filename;

async function pins(): Promise<PinsResult> {
  const r = await daemon.cli(['pins', '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as PinsResult;
}

/** Whether `ls PROJECT` says the file is pinned, and when it was last served. */
async function lsFile(project: string, version: string): Promise<{ pinned?: boolean; lastServed: string | null; stored: boolean } | undefined> {
  const r = await daemon.cli(['ls', project, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as LsResult).files?.find((f) => f.filename === filename(project, version));
}

beforeAll(async () => {
  world = await createWorld('pins', [
    { name: 'pinapp', version: '1.0', requires: ['pinlib>=1.0'] },
    { name: 'pinlib', version: '1.0' },
    { name: 'solo', version: '1.0' },
    { name: 'lockme', version: '2.0' },
    { name: 'offmiss', version: '1.0' },
  ]);
  work = join(world.dir, 'work');
  await mkdir(work, { recursive: true });
  daemon = await world.startDaemon();
});

afterAll(async () => {
  await world?.close();
});

describe('pins', () => {
  it('an export pins the files it wrote under its directory; ls shows them pinned; unpin DIR releases them', async () => {
    const out = join(work, 'packages');
    const r = await daemon.cli(['export', 'packages', 'pinapp', '--no-proof'], 60_000, { cwd: work });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const listed = await pins();
    expect(listed.sets).toMatchObject([{ name: out, files: 2 }]);
    const bytes = world.file('pinapp', '1.0').size + world.file('pinlib', '1.0').size;
    expect(listed.sets[0]?.bytes).toBeGreaterThanOrEqual(bytes);
    expect(listed.pinnedBytes).toBe(listed.sets[0]?.bytes);
    expect(await lsFile('pinlib', '1.0')).toMatchObject({ pinned: true, stored: true });
    const text = await daemon.cli(['ls', 'pinlib']);
    expect(text.stdout).toMatch(/LAST SERVED/);
    expect(text.stdout).toMatch(/cached, pinned/);
    const human = await daemon.cli(['pins']);
    expect(human.stdout).toContain(out);

    // Exporting again replaces the set with what this export wrote.
    const again = await daemon.cli(['export', 'packages', 'pinlib', '--no-proof'], 60_000, { cwd: work });
    expect(again.code, again.stderr).toBe(0);
    expect((await pins()).sets).toMatchObject([{ name: out, files: 1 }]);
    expect((await lsFile('pinapp', '1.0'))?.pinned).toBe(false);

    const un = await daemon.cli(['unpin', 'packages'], 15_000, { cwd: work });
    expect(un.code, un.stderr).toBe(0);
    expect(un.stdout).toContain(out);
    expect((await pins()).sets).toEqual([]);
    expect((await lsFile('pinlib', '1.0'))?.pinned).toBe(false);
    const none = await daemon.cli(['unpin', 'packages'], 15_000, { cwd: work });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no pin set named packages/);
  });

  it('pin -r FILE pins the closure, fetched through the cache; pin SPEC and pin pylock.toml add their own sets', async () => {
    await writeFile(join(work, 'requirements.txt'), 'pinapp\n');
    const r = await daemon.cli(['pin', '-r', 'requirements.txt'], 60_000, { cwd: work });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const name = `file:${join(work, 'requirements.txt')}`;
    expect(r.stdout).toContain(`pinned 2 files`);
    expect(r.stdout).toContain(name);
    expect(await lsFile('pinapp', '1.0')).toMatchObject({ pinned: true, stored: true });

    const spec = await daemon.cli(['pin', 'solo==1.0', '--json'], 60_000, { cwd: work });
    expect(spec.code, spec.stderr).toBe(0);
    const json = JSON.parse(spec.stdout) as { set: { name: string }; pinned: { filename: string; fetched: boolean }[] };
    expect(json.set.name).toBe('spec:solo==1.0');
    // Never installed: the pin fetched it.
    expect(json.pinned).toEqual([expect.objectContaining({ filename: filename('solo', '1.0'), fetched: true })]);
    expect(await lsFile('solo', '1.0')).toMatchObject({ pinned: true, stored: true, lastServed: null });

    await writeFile(join(work, 'pylock.toml'), 'lock-version = "1.0"\ncreated-by = "test"\n[[packages]]\nname = "lockme"\nversion = "2.0"\n');
    const lock = await daemon.cli(['pin', 'pylock.toml'], 60_000, { cwd: work });
    expect(lock.code, lock.stderr + lock.stdout).toBe(0);
    expect(await lsFile('lockme', '2.0')).toMatchObject({ pinned: true, stored: true });
    expect((await pins()).sets.map((s) => s.name).sort()).toEqual([name, `file:${join(work, 'pylock.toml')}`, 'spec:solo==1.0'].sort());

    // Pins are in the catalog: a restarted daemon keeps them.
    await daemon.stop();
    daemon = await world.startDaemon({ home: daemon.home });
    expect((await pins()).sets).toHaveLength(3);
    expect((await lsFile('pinapp', '1.0'))?.pinned).toBe(true);
    const un = await daemon.cli(['unpin', 'requirements.txt'], 15_000, { cwd: work });
    expect(un.code, un.stderr).toBe(0);
    expect(un.stdout).toContain(name);
    expect((await lsFile('pinapp', '1.0'))?.pinned).toBe(false);
  });

  it('offline, pinning a file the cache lacks fails and names it; nothing is pinned', async () => {
    // The page is seen (so the file is known, listed but not stored), the file never fetched.
    const client = proxyClient(daemon.address, daemon.pipEnv.PIP_CERT ?? '');
    try {
      expect((await client.get('https://pypi.org/simple/offmiss/')).status).toBe(200);
    } finally {
      await client.close();
    }
    expect((await daemon.cli(['offline', 'on'])).code).toBe(0);
    try {
      const before = (await pins()).sets.length;
      const r = await daemon.cli(['pin', 'offmiss==1.0'], 30_000, { cwd: work });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('offline');
      expect(r.stderr).toContain('offmiss==1.0');
      expect(r.stderr).toContain(filename('offmiss', '1.0'));
      expect((await pins()).sets).toHaveLength(before);
    } finally {
      expect((await daemon.cli(['offline', 'off'])).code).toBe(0);
    }
  });
});
