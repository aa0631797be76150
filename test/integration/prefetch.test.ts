import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuiltFile } from '../fixtures/packages.js';
import { pythonhostedPath } from '../fixtures/simple-pages.js';
import type { TestDaemon } from '../helpers/daemon.js';
import { proxyClient } from '../helpers/proxy-client.js';
import { waitFor } from '../helpers/wait.js';
import { createWorld, type World } from '../helpers/world.js';

/**
 * Archives fetched ahead: serving a wheel's PEP 658 .metadata starts the
 * wheel's download, so pip's later request for it finds it stored or joins
 * the download, with one upstream fetch either way. The daemon's limit here is
 * 1 MiB (`limits.prefetchBytes`), so a larger wheel waits for pip's request.
 */
let world: World;
let daemon: TestDaemon;
let client: ReturnType<typeof proxyClient>;
const WAIT_MS = 15_000;

beforeAll(async () => {
  world = await createWorld('prefetch', [
    { name: 'Early_Bird', version: '2.0.1', requires: ['zope.shaped-dep>=1'] },
    { name: 'zope.shaped-dep', version: '1.4' },
    { name: 'fetched-ahead', version: '1.0' },
    { name: 'heavy-wheel', version: '1.0', payloadBytes: 1_500_000 },
    { name: 'heavy-offline', version: '1.0', payloadBytes: 1_500_000 },
  ]);
  const home = join(world.dir, 'home-prefetch');
  await mkdir(home, { recursive: true });
  await writeFile(join(home, 'config.json'), JSON.stringify({ limits: { prefetchBytes: '1MiB' } }));
  daemon = await world.startDaemon({ home });
  client = proxyClient(daemon.address, daemon.pipEnv.PIP_CERT ?? '');
}, 120_000);

afterAll(async () => {
  await client?.close();
  await world?.close();
});

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const fileUrl = (f: BuiltFile): string => `https://files.pythonhosted.org${pythonhostedPath(f)}`;
const archiveGets = (f: BuiltFile): number => world.pypi.counters.files.get(f.filename) ?? 0;
const metadataGets = (f: BuiltFile): number => world.pypi.counters.metadata.get(f.filename) ?? 0;
const blobPath = (digest: string): string => join(daemon.home, 'blobs', digest.slice(0, 2), digest);
const wheel = (project: string): BuiltFile => {
  const f = world.files.find((x) => x.project === project && x.kind === 'wheel');
  if (!f) throw new Error(`no wheel for ${project}`);
  return f;
};

/** Polls `check` until it holds, for at most WAIT_MS. */
const until = (what: string, check: () => boolean | Promise<boolean>): Promise<void> => waitFor(what, check, WAIT_MS, 50);

/** Waits long enough for a prefetch that would start to have reached upstream: the daemon has no download running. */
async function settledWithoutDownloads(): Promise<void> {
  await until('no download running', async () => {
    const metrics = await (await fetch(`${daemon.address}/-/metrics`)).text();
    return /^pipcache_downloads_in_flight 0$/m.test(metrics);
  });
}

/** `pipcache_fetched_bytes_total{source="upstream"}` now. */
async function fetchedFromUpstream(): Promise<number> {
  const metrics = await (await fetch(`${daemon.address}/-/metrics`)).text();
  const line = /^pipcache_fetched_bytes_total\{source="upstream"\} (\d+)$/m.exec(metrics);
  if (!line?.[1]) throw new Error('no pipcache_fetched_bytes_total{source="upstream"} in /-/metrics');
  return Number(line[1]);
}

/** pip's order: the page, then the wheel's .metadata. */
async function readMetadata(f: BuiltFile): Promise<void> {
  expect((await client.get(`https://pypi.org/simple/${f.project}/`, { accept: 'application/vnd.pypi.simple.v1+json' })).status).toBe(200);
  const meta = await client.get(`${fileUrl(f)}.metadata`);
  expect(meta.status).toBe(200);
  expect(sha(meta.body)).toBe(f.metadata?.sha256);
}

describe('fetching ahead', () => {
  it('a wheel whose metadata was read is fetched and stored before anyone asks for it; the request then is a hit', async () => {
    const f = wheel('fetched-ahead');
    const fetchedBefore = await fetchedFromUpstream();
    await readMetadata(f);
    await until('the wheel fetched ahead', () => archiveGets(f) === 1);
    await until('the wheel stored', async () => {
      await daemon.published();
      return existsSync(blobPath(f.sha256));
    });
    // No response carried the wheel, yet the metrics count its bytes as fetched (with its metadata's).
    await until('the fetch counted', async () => (await fetchedFromUpstream()) - fetchedBefore >= f.size);
    const r = await client.get(fileUrl(f));
    expect(r.status).toBe(200);
    expect(sha(r.body)).toBe(f.sha256);
    expect(r.headers['x-pipcache']).toBe('hit');
    expect(archiveGets(f)).toBe(1);
  });

  it('real pip installs a closure with one upstream fetch per metadata and per wheel', async () => {
    const venv = await world.venv();
    const r = await venv.pip(['install', '--no-cache-dir', 'early-bird'], daemon.pipEnv);
    expect(r.code, r.stderr).toBe(0);
    for (const f of [wheel('early-bird'), wheel('zope-shaped-dep')]) {
      expect(archiveGets(f), f.filename).toBe(1);
      expect(metadataGets(f), f.filename).toBe(1);
    }
    const show = await venv.pip(['show', 'early-bird', 'zope.shaped-dep'], daemon.pipEnv);
    expect(show.stdout).toContain('Version: 2.0.1');
    expect(show.stdout).toContain('Version: 1.4');
  });

  it('a wheel over limits.prefetchBytes is fetched only when asked for', async () => {
    const f = wheel('heavy-wheel');
    await readMetadata(f);
    await settledWithoutDownloads();
    expect(archiveGets(f)).toBe(0);
    const r = await client.get(fileUrl(f));
    expect(sha(r.body)).toBe(f.sha256);
    expect(archiveGets(f)).toBe(1);
  });

  it('offline, a metadata hit fetches nothing ahead; back online, it does', async () => {
    const f = wheel('heavy-offline');
    await readMetadata(f); // over the limit: not fetched ahead
    expect((await daemon.cli(['offline', 'on'])).code).toBe(0);
    // Raise the limit; the daemon reloads its config (and stays offline).
    const log = join(daemon.home, 'logs', 'daemon.log');
    const reloads = async (): Promise<number> => ((await readFile(log, 'utf8')).match(/"config reloaded"/g) ?? []).length;
    const before = await reloads();
    await writeFile(join(daemon.home, 'config.json'), JSON.stringify({ limits: { prefetchBytes: '10MiB' } }));
    await until('the config reloaded', async () => (await reloads()) > before);

    const meta = await client.get(`${fileUrl(f)}.metadata`);
    expect(meta.status).toBe(200);
    await settledWithoutDownloads();
    expect(archiveGets(f)).toBe(0);

    expect((await daemon.cli(['offline', 'off'])).code).toBe(0);
    expect((await client.get(`${fileUrl(f)}.metadata`)).status).toBe(200);
    await until('the wheel fetched ahead once online', () => archiveGets(f) === 1);
  });
});
