import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, readdir, rm, rmdir, stat, truncate, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuiltFile } from '../fixtures/packages.js';
import { pythonhostedPath } from '../fixtures/simple-pages.js';
import type { TestDaemon } from '../helpers/daemon.js';
import { CLI } from '../helpers/daemon.js';
import { run } from '../helpers/proc.js';
import { proxyClient } from '../helpers/proxy-client.js';
import { createWorld, type World } from '../helpers/world.js';

/**
 * What the cache serves, exports and keeps stays what the index verified,
 * whatever happens to the blobs on disk.
 */
const DAEMON_MAIN = resolve(fileURLToPath(import.meta.url), '../../../packages/daemon/dist/main.js');

let world: World;
let daemon: TestDaemon;
let client: ReturnType<typeof proxyClient>;

beforeAll(async () => {
  world = await createWorld('served-bytes', [
    { name: 'tinywheel', version: '1.0' },
    { name: 'bigwheel', version: '1.0', payloadBytes: 1_500_000 },
    { name: 'bystander', version: '1.0' },
    { name: 'unreadable', version: '1.0' },
    { name: 'exported', version: '1.0', payloadBytes: 400_000 },
    { name: 'durable', version: '1.0' },
  ]);
  daemon = await world.startDaemon();
  client = proxyClient(daemon.address, daemon.pipEnv.PIP_CERT ?? '');
});

afterAll(async () => {
  await client?.close();
  await world?.close();
});

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const blobPath = (home: string, digest: string): string => join(home, 'blobs', digest.slice(0, 2), digest);
const fileUrl = (f: BuiltFile): string => `https://files.pythonhosted.org${pythonhostedPath(f)}`;
const fetches = (f: BuiltFile): number => world.pypi.counters.files.get(f.filename) ?? 0;

/** Fetches a project's page and its archive through the proxy (the archive is then stored). */
async function cache(f: BuiltFile): Promise<void> {
  expect((await client.get(`https://pypi.org/simple/${f.project}/`)).status).toBe(200);
  const r = await client.get(fileUrl(f));
  expect(r.status).toBe(200);
  expect(sha(r.body)).toBe(f.sha256);
  await published(f.sha256);
}

/** The blob of `digest`, once what clients were sent is published (see TestDaemon.published). */
async function published(digest: string): Promise<void> {
  await daemon.published();
  expect(existsSync(blobPath(daemon.home, digest))).toBe(true);
}

async function stored(project: string): Promise<boolean[]> {
  const r = await daemon.cli(['ls', project, '--json']);
  return (JSON.parse(r.stdout) as { files: { stored: boolean }[] }).files.map((f) => f.stored);
}

async function logsSince(n: number): Promise<Record<string, unknown>[]> {
  await new Promise((r) => setTimeout(r, 300)); // pino writes asynchronously
  return (await daemon.logs()).slice(n);
}

describe('served bytes stay verified', () => {
  it('a blob truncated on disk is never served at its on-disk size: it is dropped and fetched again', async () => {
    const tiny = world.file('tinywheel', '1.0');
    const big = world.file('bigwheel', '1.0');
    const bystander = world.file('bystander', '1.0');
    for (const f of [tiny, big, bystander]) await cache(f);
    // The archive (not yet read into memory: its first request was a miss) and a large one.
    const logged = (await daemon.logs()).length;
    for (const f of [tiny, big]) await truncate(blobPath(daemon.home, f.sha256), Math.floor(f.size / 2));
    for (const f of [tiny, big]) {
      const before = fetches(f);
      const r = await client.get(fileUrl(f));
      expect(r.status).toBe(200);
      expect(r.body.length).toBe(f.size);
      expect(sha(r.body)).toBe(f.sha256);
      expect(r.headers.etag).toBe(`"${f.sha256}"`);
      expect(fetches(f)).toBe(before + 1);
      await published(f.sha256);
      expect((await stat(blobPath(daemon.home, f.sha256))).size).toBe(f.size);
    }
    const lines = await logsSince(logged);
    expect(lines.filter((l) => l.msg === 'stored blob is damaged; removed, fetching again').map((l) => l.sha256)).toEqual([tiny.sha256, big.sha256]);
    expect(lines.some((l) => l.msg === 'stored blob has the wrong size' && l.sha256 === big.sha256 && l.size === Math.floor(big.size / 2))).toBe(true);

    // Nothing else changed: the bystander is still a hit, and each is a hit again.
    for (const f of [tiny, big, bystander]) {
      const before = fetches(f);
      expect(sha((await client.get(fileUrl(f))).body)).toBe(f.sha256);
      expect(fetches(f)).toBe(before);
    }
  });

  it('a truncated .metadata blob is dropped and fetched again too', async () => {
    const tiny = world.file('tinywheel', '1.0');
    const meta = tiny.metadata;
    expect(meta, 'built wheels carry PEP 658 metadata').toBeDefined();
    const url = `${fileUrl(tiny)}.metadata`;
    const first = await client.get(url);
    expect(sha(first.body)).toBe(meta?.sha256);
    const blob = blobPath(daemon.home, meta?.sha256 ?? '');
    await published(meta?.sha256 ?? '');
    await truncate(blob, 5);
    const before = world.pypi.counters.metadata.get(tiny.filename) ?? 0;
    const again = await client.get(url);
    expect(again.body.length).toBe(first.body.length);
    expect(sha(again.body)).toBe(meta?.sha256);
    expect(world.pypi.counters.metadata.get(tiny.filename)).toBe(before + 1);
    await published(meta?.sha256 ?? '');
    expect((await stat(blob)).size).toBe(first.body.length);
  });

  it('offline, a truncated blob is refused with 503 and a reason, never served short', async () => {
    const big = world.file('bigwheel', '1.0');
    await truncate(blobPath(daemon.home, big.sha256), 1000);
    await daemon.cli(['offline', 'on']);
    try {
      const logged = (await daemon.logs()).length;
      const r = await client.get(fileUrl(big));
      expect(r.status).toBe(503);
      expect(r.body.toString()).toMatch(new RegExp(`offline.*${big.filename.replace(/\./g, '\\.')}`));
      const lines = await logsSince(logged);
      expect(lines.some((l) => l.msg === 'stored blob is damaged; removed, fetching again' && l.sha256 === big.sha256)).toBe(true);
      expect(existsSync(blobPath(daemon.home, big.sha256))).toBe(false);
      expect(await stored('bigwheel')).toEqual([false]);
    } finally {
      await daemon.cli(['offline', 'off']);
    }
    expect(sha((await client.get(fileUrl(big))).body)).toBe(big.sha256);
  });

  it('verify removes only damaged or missing blobs; a blob it cannot read is reported and kept', async () => {
    const unreadable = world.file('unreadable', '1.0');
    const bystander = world.file('bystander', '1.0');
    const tiny = world.file('tinywheel', '1.0');
    await cache(unreadable);
    // A read error that says nothing about the content: the blob path is a directory (EISDIR).
    const blob = blobPath(daemon.home, unreadable.sha256);
    const bytes = await readFile(blob);
    await rm(blob);
    await mkdir(blob);
    // And a really damaged one.
    const tinyBlob = blobPath(daemon.home, tiny.sha256);
    const fh = await open(tinyBlob, 'r+');
    await fh.write(Buffer.from('XX'), 0, 2, 100);
    await fh.close();
    const bystanderBefore = await stat(blobPath(daemon.home, bystander.sha256));
    try {
      const r = await daemon.cli(['verify', '--json']);
      expect(r.code).toBe(1);
      const res = JSON.parse(r.stdout) as { damaged: { filename: string }[]; errors: { filename: string; reason: string }[] };
      expect(res.errors).toEqual([expect.objectContaining({ filename: unreadable.filename, reason: expect.stringContaining('EISDIR') })]);
      expect(res.damaged.map((d) => d.filename)).toEqual([tiny.filename]);
      expect((await stat(blob)).isDirectory()).toBe(true); // kept
      expect(await stored('unreadable')).toEqual([true]);
      expect(existsSync(tinyBlob)).toBe(false);
      expect(await stored('tinywheel')).toEqual([false]);
      const text = await daemon.cli(['verify']);
      expect(text.code).toBe(1);
      expect(text.stdout).toContain(`kept ${unreadable.filename} (unreadable): cannot read`);
      expect((await stat(blobPath(daemon.home, bystander.sha256))).mtimeMs).toBe(bystanderBefore.mtimeMs);
    } finally {
      await rmdir(blob);
      await writeFile(blob, bytes, { mode: 0o444 });
    }
    const clean = await daemon.cli(['verify', '--json']);
    expect(clean.code, clean.stdout).toBe(0);
  });

  it('an export that meets a damaged blob drops it and fetches it again; later exports work', async () => {
    const f = world.file('exported', '1.0');
    await cache(f);
    const first = join(world.dir, 'export-1');
    const r1 = await daemon.cli(['export', first, 'exported==1.0', '--json']);
    expect(r1.code, r1.stderr).toBe(0);
    // The exported file is a hardlink of the blob: damaging it damages the cache.
    const exported = join(first, f.filename);
    expect((await stat(exported)).ino).toBe((await stat(blobPath(daemon.home, f.sha256))).ino);
    const fh = await open(exported, 'r+');
    await fh.write(Buffer.from('damage'), 0, 6, 1000);
    await fh.close();

    // Offline it cannot be fetched again: a clear error, and the damaged blob is gone.
    await daemon.cli(['offline', 'on']);
    try {
      const off = await daemon.cli(['export', join(world.dir, 'export-offline'), 'exported==1.0']);
      expect(off.code).toBe(1);
      expect(off.stderr).toMatch(new RegExp(`offline.*${f.filename.replace(/\./g, '\\.')}`));
      expect(await readdir(join(world.dir, 'export-offline'))).toEqual([]);
    } finally {
      await daemon.cli(['offline', 'off']);
    }

    const before = fetches(f);
    for (const n of [2, 3]) {
      const dir = join(world.dir, `export-${n}`);
      const r = await daemon.cli(['export', dir, 'exported==1.0', '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(sha(await readFile(join(dir, f.filename)))).toBe(f.sha256);
      expect(await readdir(dir)).toEqual([f.filename]);
    }
    expect(fetches(f)).toBe(before + 1);
    expect(sha(await readFile(blobPath(daemon.home, f.sha256)))).toBe(f.sha256);
  });

  it('a new shard directory is fsynced into blobs/ before a blob is renamed into it', async () => {
    const strace = await run('strace', ['-V'], { env: { PATH: process.env.PATH }, timeoutMs: 10_000 }).catch(() => null);
    expect(strace?.code, 'strace is needed to watch the daemon fsync blobs/').toBe(0);
    const f = world.file('durable', '1.0');
    const home = join(world.dir, 'home-strace');
    await mkdir(home);
    const trace = join(world.dir, 'strace.txt');
    const env = {
      PATH: process.env.PATH,
      HOME: home,
      PIPCACHE_HOME: home,
      PIPCACHE_PORT: '0',
      PIPCACHE_RESOLVE: world.pypi.resolve,
      NODE_EXTRA_CA_CERTS: world.ca.certPath,
    };
    // One file per thread (-ff, no interleaved "unfinished" lines), merged by timestamp below.
    const traced = run('strace', ['-ff', '-ttt', '-qq', '-o', trace, '-e', 'trace=mkdir,mkdirat,openat,fsync,rename,renameat,renameat2', process.execPath, DAEMON_MAIN], { env, timeoutMs: 90_000 });
    const deadline = Date.now() + 60_000;
    while (!existsSync(join(home, 'daemon.json')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const info = JSON.parse(await readFile(join(home, 'daemon.json'), 'utf8')) as { pid: number; host: string; port: number };
    const own = proxyClient(`http://127.0.0.1:${info.port}`, join(home, 'ca', 'bundle.pem'));
    try {
      expect((await own.get(`https://pypi.org/simple/${f.project}/`)).status).toBe(200);
      expect(sha((await own.get(fileUrl(f))).body)).toBe(f.sha256);
    } finally {
      await own.close();
      await run(process.execPath, [CLI, 'stop'], { env, timeoutMs: 30_000 });
    }
    const done = await traced;
    expect(done.timedOut).toBe(false);
    const lines: string[] = [];
    for (const name of await readdir(world.dir)) {
      if (name.startsWith('strace.txt.')) lines.push(...(await readFile(join(world.dir, name), 'utf8')).split('\n').filter(Boolean));
    }
    lines.sort((a, b) => Number(a.split(' ', 1)[0]) - Number(b.split(' ', 1)[0]));
    const blobs = join(home, 'blobs');
    const shard = join(blobs, f.sha256.slice(0, 2));
    const made = lines.findIndex((l) => new RegExp(`mkdir(at)?\\(.*"${shard}", .*\\) = 0`).test(l));
    expect(made, `mkdir of ${shard} in the trace`).toBeGreaterThanOrEqual(0);
    const opened = lines.findIndex((l, i) => i > made && l.includes(`"${blobs}", O_RDONLY`) && /= \d+$/.test(l));
    expect(opened, 'blobs/ opened after the shard was made').toBeGreaterThan(made);
    const fd = /= (\d+)$/.exec(lines[opened] ?? '')?.[1];
    const synced = lines.findIndex((l, i) => i > opened && l.includes(`fsync(${fd})`) && l.endsWith('= 0'));
    const renamed = lines.findIndex((l) => /rename/.test(l) && l.includes(`"${join(shard, f.sha256)}"`));
    expect(synced, 'fsync of blobs/').toBeGreaterThan(opened);
    expect(renamed, 'the blob renamed into the shard after blobs/ was synced').toBeGreaterThan(synced);
  });
});
