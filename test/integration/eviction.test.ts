import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusResult } from '@pipcache/shared';
import type { TestDaemon } from '../helpers/daemon.js';
import type { RunResult } from '../helpers/proc.js';
import type { Venv } from '../helpers/venv.js';
import { proxyClient } from '../helpers/proxy-client.js';
import { createWorld, type World } from '../helpers/world.js';

/**
 * A cache capped at a few MB, filled past its cap by real pip installs: the
 * least recently served file goes, stays listed online (and installs again,
 * fetched anew), and is gone from offline pages.
 */
const CAP = 5_000_000;
const PAYLOAD = 1_400_000;

let world: World;
let daemon: TestDaemon;
let client: ReturnType<typeof proxyClient>;

beforeAll(async () => {
  world = await createWorld('eviction', [
    { name: 'evkeep', version: '1.0', payloadBytes: PAYLOAD },
    { name: 'evtwo', version: '1.0', payloadBytes: PAYLOAD },
    { name: 'evtwo', version: '2.0', payloadBytes: PAYLOAD },
    { name: 'evnew', version: '1.0', payloadBytes: PAYLOAD },
  ]);
  const home = join(world.dir, 'home');
  await mkdir(home, { recursive: true });
  await writeFile(join(home, 'config.json'), JSON.stringify({ maxSize: '5MB' }));
  daemon = await world.startDaemon({ home });
  client = proxyClient(daemon.address, daemon.pipEnv.PIP_CERT ?? '');
});

afterAll(async () => {
  await client?.close();
  await world?.close();
});

async function status(): Promise<StatusResult> {
  return JSON.parse((await daemon.cli(['status', '--json'])).stdout) as StatusResult;
}

async function storedFiles(project: string): Promise<Record<string, boolean>> {
  const r = await daemon.cli(['ls', project, '--json']);
  const files = (JSON.parse(r.stdout) as { files: { filename: string; stored: boolean }[] }).files;
  return Object.fromEntries(files.map((f) => [f.filename, f.stored]));
}

let venv: Venv | undefined;
let targets = 0;

/** `pip install` into a new target directory of one venv: every file is requested again. */
async function pip(spec: string): Promise<RunResult> {
  venv ??= await world.venv();
  return venv.pip(['install', '--no-cache-dir', '--target', join(world.dir, `target-${targets++}`), spec], daemon.pipEnv);
}

async function install(spec: string): Promise<void> {
  const r = await pip(spec);
  expect(r.code, r.stderr + r.stdout).toBe(0);
}

/** Waits until no eviction is needed (eviction runs in the background); bounded. */
async function settled(): Promise<StatusResult> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const st = await status();
    if (st.disk.bytes <= st.disk.maxSize || Date.now() > deadline) return st;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function pageFilenames(project: string): Promise<string[]> {
  const r = await client.get(`https://pypi.org/simple/${project}/`, { accept: 'application/vnd.pypi.simple.v1+json' });
  if (r.status !== 200) return [];
  return (JSON.parse(r.body.toString('utf8')) as { files: { filename: string }[] }).files.map((f) => f.filename);
}

describe('size cap', () => {
  it('shows the configured cap in status', async () => {
    const st = await status();
    expect(st.disk).toMatchObject({ maxSize: CAP, maxSizeDefault: false, bytes: 0, evictions: 0, bytesEvicted: 0, pinnedBytes: 0, pinnedOverCap: false });
  });

  it('evicts the least recently served file when installs cross the cap; it stays listed online, offline pages drop it, and it installs again', async () => {
    const keep = world.file('evkeep', '1.0');
    const two1 = world.file('evtwo', '1.0');
    const two2 = world.file('evtwo', '2.0');
    await install('evkeep');
    await install('evtwo==2.0');
    await install('evtwo==1.0');
    // evkeep is served again (a hit), so evtwo 2.0 is now the least recently served.
    await install('evkeep');
    await new Promise((r) => setTimeout(r, 1500)); // hits are written once a second
    let st = await status();
    expect(st.disk.evictions).toBe(0);
    expect(st.disk.bytes).toBeGreaterThan(3 * PAYLOAD);
    expect(st.disk.hitRate).toBeGreaterThan(0);

    await install('evnew');
    st = await settled();
    expect(st.disk.bytes).toBeLessThanOrEqual(CAP);
    expect(st.disk.evictions).toBeGreaterThanOrEqual(1);
    expect(st.disk.bytesEvicted).toBeGreaterThanOrEqual(two2.size);
    expect(await storedFiles('evtwo')).toEqual({ [two1.filename]: true, [two2.filename]: false });
    expect(await storedFiles('evkeep')).toEqual({ [keep.filename]: true });
    expect(Object.values(await storedFiles('evnew'))).toEqual([true]);

    // Online, the evicted file is still listed ("listed, not stored").
    expect((await pageFilenames('evtwo')).sort()).toEqual([two1.filename, two2.filename].sort());
    // Offline pages list only what is on disk, and pip cannot have the evicted version.
    expect((await daemon.cli(['offline', 'on'])).code).toBe(0);
    try {
      expect(await pageFilenames('evtwo')).toEqual([two1.filename]);
      const r = await pip('evtwo==2.0');
      expect(r.code).not.toBe(0);
    } finally {
      expect((await daemon.cli(['offline', 'off'])).code).toBe(0);
    }

    // Back online it installs again, fetched anew from upstream.
    const before = world.pypi.counters.files.get(two2.filename) ?? 0;
    await install('evtwo==2.0');
    expect(world.pypi.counters.files.get(two2.filename)).toBe(before + 1);
    expect((await storedFiles('evtwo'))[two2.filename]).toBe(true);
    st = await settled();
    expect(st.disk.bytes).toBeLessThanOrEqual(CAP);

    const text = (await daemon.cli(['status'])).stdout;
    expect(text).toMatch(/size\s+\S+ \S+ of 4\.8 MiB/);
    expect(text).toMatch(/evicted\s+\d+ files/);
    const logs = await daemon.logs();
    expect(logs.some((l) => l.msg === 'evicted the least recently used files to stay under maxSize')).toBe(true);
  }, 300_000);
});
