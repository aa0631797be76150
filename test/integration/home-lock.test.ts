import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuiltFile } from '../fixtures/packages.js';
import { pythonhostedPath } from '../fixtures/simple-pages.js';
import type { TestDaemon } from '../helpers/daemon.js';
import { run } from '../helpers/proc.js';
import { proxyClient } from '../helpers/proxy-client.js';
import { createWorld, type World } from '../helpers/world.js';

const DAEMON_MAIN = resolve(fileURLToPath(import.meta.url), '../../../packages/daemon/dist/main.js');

let world: World;
let slow: BuiltFile;

beforeAll(async () => {
  world = await createWorld('home-lock', [{ name: 'bigslow', version: '1.0', payloadBytes: 6_000_000 }]);
  slow = world.file('bigslow', '1.0');
});

afterAll(async () => {
  await world?.close();
});

/** Name, size and mtime of everything under `dir` (recursively), to prove nothing was touched. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const p = join(e.parentPath, e.name);
    const st = await stat(p);
    out.push(`${p} ${e.isDirectory() ? 'dir' : st.size} ${st.mtimeMs}`);
  }
  return out.sort();
}

async function homeState(home: string): Promise<Record<string, unknown>> {
  return {
    // The download in progress keeps growing: its temp file must still be there.
    tmp: (await readdir(join(home, 'tmp'))).sort(),
    blobs: await snapshot(join(home, 'blobs')),
    catalog: await snapshot(join(home, 'catalog')),
    daemonJson: await readFile(join(home, 'daemon.json'), 'utf8'),
    socket: existsSync(join(home, 'daemon.sock')),
    lock: await readFile(join(home, 'daemon.lock'), 'utf8'),
  };
}

describe('one daemon per home', () => {
  it('a second daemon on a busy home exits with E_DAEMON_RUNNING and the first download completes and verifies', async () => {
    const first: TestDaemon = await world.startDaemon();
    const pid = (JSON.parse(await readFile(join(first.home, 'daemon.json'), 'utf8')) as { pid: number }).pid;
    expect(JSON.parse(await readFile(join(first.home, 'daemon.lock'), 'utf8'))).toMatchObject({ pid });
    const client = proxyClient(first.address, first.pipEnv.PIP_CERT ?? '');
    world.pypi.faults.slow.set(slow.filename, 300_000);
    try {
      expect((await client.get('https://pypi.org/simple/bigslow/')).status).toBe(200);
      const download = client.get(`https://files.pythonhosted.org${pythonhostedPath(slow)}`);
      const deadline = Date.now() + 10_000;
      while ((await readdir(join(first.home, 'tmp'))).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const before = await homeState(first.home);
      expect(before.tmp).toHaveLength(1); // the download in progress

      // The daemon process itself, started directly on the same home (no CLI hello first).
      const env = {
        PATH: process.env.PATH,
        HOME: first.home,
        PIPCACHE_HOME: first.home,
        PIPCACHE_PORT: '0',
        PIPCACHE_RESOLVE: world.pypi.resolve,
        NODE_EXTRA_CA_CERTS: world.ca.certPath,
      };
      const direct = await run(process.execPath, [DAEMON_MAIN], { env, timeoutMs: 30_000 });
      expect(direct.timedOut).toBe(false);
      expect(direct.code).toBe(1);
      expect(direct.stderr).toContain(`another pipcache daemon (pid ${pid}`);
      expect(direct.stderr).toContain('code: E_DAEMON_RUNNING');

      // `pipcache start` while the first daemon cannot answer its hello (stopped with SIGSTOP):
      // the spawned daemon finds the lock and the CLI reports it.
      process.kill(pid, 'SIGSTOP');
      let viaCli;
      try {
        viaCli = await run(process.execPath, [join(DAEMON_MAIN, '../../../cli/dist/main.js'), 'start'], { env, timeoutMs: 30_000 });
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      expect(viaCli.code).toBe(1);
      expect(viaCli.stderr).toContain(`another pipcache daemon (pid ${pid}`);
      expect(viaCli.stderr.trim().split('\n')).toHaveLength(1);

      // Still mid-download (20 s at this rate), and nothing in the home touched.
      expect(await homeState(first.home)).toEqual(before);

      const got = await download;
      expect(got.status).toBe(200);
      expect(got.body.length).toBe(slow.size);
      expect(createHash('sha256').update(got.body).digest('hex')).toBe(slow.sha256);
      const blob = join(first.home, 'blobs', slow.sha256.slice(0, 2), slow.sha256);
      const stored = Date.now() + 10_000;
      while (!existsSync(blob) && Date.now() < stored) await new Promise((r) => setTimeout(r, 50));
      expect(createHash('sha256').update(await readFile(blob)).digest('hex')).toBe(slow.sha256);
      expect(await readdir(join(first.home, 'tmp'))).toEqual([]);
      const status = await first.cli(['status', '--json']);
      expect(JSON.parse(status.stdout)).toMatchObject({ pid });
    } finally {
      world.pypi.faults.slow.delete(slow.filename);
      await client.close();
    }

    await first.stop();
    expect(existsSync(join(first.home, 'daemon.lock'))).toBe(false);
  });

  it('a lock left by a dead process is stale: the next daemon takes the home over', async () => {
    const d = await world.startDaemon();
    const lockPath = join(d.home, 'daemon.lock');
    await d.stop();
    // A crashed daemon leaves its lock behind; pid 2^22+1 is above Linux's pid_max default and never alive.
    await writeFile(lockPath, JSON.stringify({ pid: 4_194_305, startedAt: '2020-01-01T00:00:00.000Z' }));
    const again = await world.startDaemon({ home: d.home });
    const pid = (JSON.parse(await readFile(join(d.home, 'daemon.json'), 'utf8')) as { pid: number }).pid;
    expect(JSON.parse(await readFile(lockPath, 'utf8'))).toMatchObject({ pid });
    expect((await again.cli(['status', '--json'])).code).toBe(0);
  });

  it('a lock held by a zombie (killed, never reaped) is stale too', async () => {
    // A parent that never reaps: its child exits at once and stays a zombie while the parent sleeps.
    const parent = spawn('python3', ['-c', 'import os, sys, time\npid = os.fork()\nif pid == 0:\n    os._exit(0)\nprint(pid, flush=True)\ntime.sleep(120)'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const zombie = Number(await new Promise<string>((res, rej) => {
        parent.stdout.once('data', (d: Buffer) => res(d.toString().trim()));
        parent.once('error', rej);
      }));
      const deadline = Date.now() + 10_000;
      while (!/^\d+ \(.*\) Z/s.test(await readFile(`/proc/${zombie}/stat`, 'utf8')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(await readFile(`/proc/${zombie}/stat`, 'utf8')).toMatch(/^\d+ \(.*\) Z/s);
      const d = await world.startDaemon();
      const lockPath = join(d.home, 'daemon.lock');
      await d.stop();
      await writeFile(lockPath, JSON.stringify({ pid: zombie, startedAt: '2020-01-01T00:00:00.000Z' }));
      const again = await world.startDaemon({ home: d.home });
      expect((await again.cli(['status', '--json'])).code).toBe(0);
    } finally {
      parent.kill('SIGKILL');
    }
  });
});
