import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa, type TestCa } from '../fixtures/test-ca.js';
import { buildPackages, type BuiltFile } from '../fixtures/packages.js';
import { startFakePypi, type FakePypi } from '../fixtures/fake-pypi.js';
import { waitFor } from '../helpers/wait.js';
import { createVenv } from '../helpers/venv.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';

/** A small tmpfs holds PIPCACHE_HOME; mounting needs root (CI and these machines run as root). */
function mountTmpfs(at: string, size: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', at], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

let dir: string;
let home: string;
let mounted = false;
let ca: TestCa;
let files: BuiltFile[];
let pypi: FakePypi;
let daemon: TestDaemon | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pipcache-disk-'));
  home = join(dir, 'home');
  await mkdir(home);
  mounted = mountTmpfs(home, '8m');
  ca = await createTestCa(join(dir, 'ca'));
  files = await buildPackages(
    [
      { name: 'hugepkg', version: '1.0', payloadBytes: 12_000_000 },
      { name: 'tinypkg', version: '1.0' },
    ],
    join(dir, 'dist'),
  );
  pypi = await startFakePypi({ ca, files });
  if (mounted) daemon = await startDaemon({ resolve: pypi.resolve, caCertPath: ca.certPath, home });
});

afterAll(async () => {
  await daemon?.stop();
  await pypi?.close();
  if (mounted) execFileSync('umount', [home], { timeout: 10_000 });
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('a full disk', () => {
  // Skipped only when not root: mounting the small tmpfs needs it, and there is no other safe disk to fill.
  it.skipIf(process.getuid?.() !== 0)('fails the download, caches nothing, and keeps serving', async () => {
    expect(mounted).toBe(true);
    const d = daemon as TestDaemon;
    const huge = files.find((f) => f.project === 'hugepkg') as BuiltFile;
    const v = await createVenv(join(dir, 'venv'));
    const bad = await v.pip(['install', '--no-cache-dir', '--retries', '0', 'hugepkg'], d.pipEnv);
    expect(bad.code).not.toBe(0);
    expect(existsSync(join(home, 'blobs', huge.sha256.slice(0, 2), huge.sha256))).toBe(false);
    // The temp file's removal may trail the client's error (the download outlives its clients).
    await waitFor('the temp dir to be emptied', async () => (await readdir(join(home, 'tmp'))).length === 0, 10_000, 50);
    const logs = await d.logs();
    expect(logs.some((l) => l.code === 'E_DISK')).toBe(true);
    const ok = await v.pip(['install', '--no-cache-dir', 'tinypkg'], d.pipEnv);
    expect(ok.code, ok.stderr).toBe(0);
    expect((await d.cli(['status'])).code).toBe(0);
  });
});
