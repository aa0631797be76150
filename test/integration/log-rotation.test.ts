import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, type TestDaemon } from '../helpers/daemon.js';
import { proxyClient } from '../helpers/proxy-client.js';
import { createWorld, type World } from '../helpers/world.js';
import { waitFor } from '../helpers/wait.js';

const MAX_SIZE = 64 * 1024;
const KEEP = 4;
const REQUESTS = 1500;
/** Requests in flight at once: enough to rotate several times, paced so a follower polling every 250 ms keeps up. */
const CONCURRENCY = 4;

let world: World;
let daemon: TestDaemon;

beforeAll(async () => {
  world = await createWorld('logrot', [{ name: 'rotpkg', version: '1.0' }]);
  const home = join(world.dir, 'home-logrot');
  await mkdir(home, { recursive: true });
  await writeFile(join(home, 'config.json'), JSON.stringify({ log: { maxSize: '64KiB', keep: KEEP } }));
  daemon = await world.startDaemon({ home });
});

afterAll(async () => {
  await world?.close();
});

const path = (i: number): string => `/simple/rot-${String(i).padStart(5, '0')}/`;

describe('the log while the daemon runs', () => {
  it('rotates by size, keeps N generations, and `pipcache logs -f` prints every request once across rotations', async () => {
    const follower = spawn(process.execPath, [CLI, 'logs', '-f'], {
      env: { PATH: process.env.PATH, PIPCACHE_HOME: daemon.home },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    follower.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    follower.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    const closed = new Promise<void>((resolve) => follower.once('close', () => resolve()));
    try {
      const client = proxyClient(daemon.address, daemon.pipEnv.PIP_CERT ?? '');
      try {
        let next = 0;
        const worker = async (): Promise<void> => {
          while (next < REQUESTS) {
            const i = next++;
            await client.get(`https://pypi.org${path(i)}`);
          }
        };
        await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      } finally {
        await client.close();
      }
      const counts = (): Map<string, number> => {
        const seen = new Map<string, number>();
        for (const m of out.matchAll(/ (\/simple\/rot-\d{5}\/) /g)) seen.set(m[1] ?? '', (seen.get(m[1] ?? '') ?? 0) + 1);
        return seen;
      };
      await waitFor('the follower to print every request', () => counts().size === REQUESTS, 20_000);
      const seen = counts();
      for (let i = 0; i < REQUESTS; i++) expect(seen.get(path(i)), path(i)).toBe(1);
      expect(err).toBe('');
    } finally {
      follower.kill('SIGINT');
      await closed;
    }

    const logsDir = join(daemon.home, 'logs');
    const generations = (await readdir(logsDir)).filter((n) => /^daemon\.log\.\d+$/.test(n)).sort();
    expect(generations).toEqual(Array.from({ length: KEEP }, (_, k) => `daemon.log.${k + 1}`));
    let kept = '';
    for (const name of ['daemon.log', ...generations]) {
      const text = await readFile(join(logsDir, name), 'utf8');
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MAX_SIZE);
      // Whole lines only: every line in every file parses.
      for (const line of text.split('\n').filter(Boolean)) expect(() => JSON.parse(line) as unknown).not.toThrow();
      kept += text;
    }
    // More rotations happened than files kept: the first requests' lines are gone from disk (but were followed).
    expect(kept).not.toContain(path(0));
    expect(kept).toContain(path(REQUESTS - 1));
  });

  it('takes new limits from a config reload: a smaller keep drops generations', async () => {
    const logsDir = join(daemon.home, 'logs');
    const generations = async (): Promise<string[]> => (await readdir(logsDir)).filter((n) => /^daemon\.log\.\d+$/.test(n)).sort();
    expect(await generations()).toHaveLength(KEEP);
    await writeFile(join(daemon.home, 'config.json'), JSON.stringify({ log: { maxSize: '64KiB', keep: 2 } }));
    await waitFor('the extra generations to go', async () => (await generations()).length === 2, 10_000);
    expect(await generations()).toEqual(['daemon.log.1', 'daemon.log.2']);
  });
});
