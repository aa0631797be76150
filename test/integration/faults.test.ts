import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuiltFile } from '../fixtures/packages.js';
import type { FakePypi, RecordedRequest } from '../fixtures/fake-pypi.js';
import { pythonhostedPath } from '../fixtures/simple-pages.js';
import type { TestDaemon } from '../helpers/daemon.js';
import { countingGet, proxyClient, type Counted } from '../helpers/proxy-client.js';
import { waitFor } from '../helpers/wait.js';
import { createWorld, type World } from '../helpers/world.js';

/**
 * Upstream misbehaving under a client that checks nothing (no sha256, no
 * length), page revalidation, and a daemon killed mid-download.
 */

const JSON_ACCEPT = 'application/vnd.pypi.simple.v1+json';
/** Seconds a page stays fresh in the revalidation daemon: short, so expiry is quick to reach. */
const PAGE_MAX_AGE = 3;

let world: World;
let pypi: FakePypi;
let daemon: TestDaemon;

const file = (project: string, version: string): BuiltFile => world.file(project, version);
const fileUrl = (f: BuiltFile): string => `https://files.pythonhosted.org${pythonhostedPath(f)}`;
const blobPath = (home: string, sha: string): string => join(home, 'blobs', sha.slice(0, 2), sha);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface JsonPage {
  files: { filename: string; url: string; hashes: { sha256?: string } }[];
}

beforeAll(async () => {
  world = await createWorld('faults', [
    { name: 'flipsmall', version: '1.0' },
    { name: 'flipbig', version: '1.0', payloadBytes: 1_500_000 },
    { name: 'cutoff', version: '1.0', payloadBytes: 2_000_000 },
    { name: 'revalpkg', version: '1.0' },
    { name: 'revalpkg', version: '1.1' },
    { name: 'datedpkg', version: '1.0' },
    { name: 'killpkg', version: '1.0', payloadBytes: 8_000_000 },
    { name: 'killdep', version: '1.0' },
    ...[1, 2, 3].map((n) => ({ name: 'justsent', version: `${n}.0`, payloadBytes: 3_000_000 })),
  ]);
  pypi = world.pypi;
  daemon = await world.startDaemon();
});

afterAll(async () => {
  await world?.close();
});

const indexUrls = new WeakMap<TestDaemon, string>();

/** The index-mode base URL (`http://127.0.0.1:PORT/simple/`) of a daemon. */
async function indexUrl(d: TestDaemon): Promise<string> {
  const known = indexUrls.get(d);
  if (known) return known;
  const r = await d.cli(['env', '--index', '--json']);
  expect(r.code, r.stderr).toBe(0);
  const url = (JSON.parse(r.stdout) as Record<string, string>).PIP_INDEX_URL;
  if (!url) throw new Error(`pipcache env --index printed no PIP_INDEX_URL: ${r.stdout}`);
  indexUrls.set(d, url);
  return url;
}

/** Index mode: the project's JSON page, and the absolute URL it gives for `f`. */
async function indexFileUrl(base: string, f: BuiltFile): Promise<string> {
  const pageUrl = new URL(`${f.project}/`, base).href;
  const res = await request(pageUrl, { headers: { accept: JSON_ACCEPT }, headersTimeout: 30_000, bodyTimeout: 30_000 });
  expect(res.statusCode).toBe(200);
  const page = (await res.body.json()) as JsonPage;
  const listed = page.files.find((x) => x.filename === f.filename);
  if (!listed) throw new Error(`index mode page ${pageUrl} does not list ${f.filename}`);
  return new URL(listed.url, pageUrl).href;
}

/** Proxy mode: the page first (so the daemon knows the file's sha256), then the file, counting what arrives. */
async function viaProxy(d: TestDaemon, f: BuiltFile): Promise<Counted> {
  const client = proxyClient(d.address, d.pipEnv.PIP_CERT ?? '');
  try {
    expect((await client.get(`https://pypi.org/simple/${f.project}/`, { accept: JSON_ACCEPT })).status).toBe(200);
    return await client.getCounting(fileUrl(f), { 'accept-encoding': 'identity' });
  } finally {
    await client.close();
  }
}

async function viaIndex(d: TestDaemon, f: BuiltFile): Promise<Counted> {
  return countingGet(await indexFileUrl(await indexUrl(d), f), undefined, { 'accept-encoding': 'identity' });
}

/** Nothing of `f` in the store: no blob, and the temp dir emptied (its cleanup may trail the client's error). */
async function expectNothingCached(d: TestDaemon, f: BuiltFile): Promise<void> {
  expect(existsSync(blobPath(d.home, f.sha256))).toBe(false);
  await waitFor('the temp dir to be emptied', async () => (await readdir(join(d.home, 'tmp'))).length === 0, 5_000, 50);
  const ls = JSON.parse((await d.cli(['ls', f.project, '--json'])).stdout) as { files: { filename: string; stored: boolean }[] };
  expect(ls.files.find((x) => x.filename === f.filename)?.stored).toBe(false);
}

function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  return pipeline(createReadStream(path), hash).then(() => hash.digest('hex'));
}

describe('a bad upstream body never reaches a client whole', () => {
  const cases = [
    { title: 'a corrupt small body', project: 'flipsmall', fault: 'corrupt', code: 'E_HASH_MISMATCH' },
    { title: 'a corrupt large body', project: 'flipbig', fault: 'corrupt', code: 'E_HASH_MISMATCH' },
    { title: 'a cut-off body', project: 'cutoff', fault: 'truncate', code: 'E_TRUNCATED' },
  ] as const;

  it.each(cases)('$title: fewer bytes than the file in proxy and index mode, nothing cached, whole once upstream is fixed', async ({ project, fault, code }) => {
    const f = file(project, '1.0');
    pypi.faults[fault].add(f.filename);
    try {
      const before = pypi.counters.files.get(f.filename) ?? 0;
      const proxied = await viaProxy(daemon, f);
      expect(proxied.received, JSON.stringify(proxied)).toBeLessThan(f.size);
      await expectNothingCached(daemon, f);
      const indexed = await viaIndex(daemon, f);
      expect(indexed.received, JSON.stringify(indexed)).toBeLessThan(f.size);
      await expectNothingCached(daemon, f);
      // Both reads really went upstream (nothing was served from a cache).
      expect(pypi.counters.files.get(f.filename)).toBe(before + 2);
      await waitFor(`${code} in the log`, async () => (await daemon.logs()).filter((l) => l.code === code && String(l.url).endsWith(f.filename)).length >= 2, 5_000, 100);
    } finally {
      pypi.faults[fault].delete(f.filename);
    }
    // The same client sees the whole body once upstream serves it intact.
    const good = await viaProxy(daemon, f);
    expect(good).toMatchObject({ status: 200, received: f.size, sha256: f.sha256 });
    expect(good.error).toBeUndefined();
    const again = await viaIndex(daemon, f);
    expect(again).toMatchObject({ status: 200, received: f.size, sha256: f.sha256 });
    expect(pypi.errors).toEqual([]);
  });
});

describe('page revalidation upstream', () => {
  let reval: TestDaemon;
  let client: ReturnType<typeof proxyClient>;

  beforeAll(async () => {
    const home = join(world.dir, 'home-reval');
    await mkdir(home, { recursive: true });
    await writeFile(join(home, 'config.json'), JSON.stringify({ pageMaxAge: PAGE_MAX_AGE }));
    reval = await world.startDaemon({ home });
    client = proxyClient(reval.address, reval.pipEnv.PIP_CERT ?? '');
  });

  afterAll(async () => {
    await client?.close();
  });

  const upstreamPageRequests = (project: string): RecordedRequest[] => pypi.counters.requests.filter((r) => r.path === `/simple/${project}/`);
  const revalidated = async (): Promise<number> =>
    (JSON.parse((await reval.cli(['status', '--json'])).stdout) as { requests: { revalidated: number } }).requests.revalidated;

  /** The page as a client gets it: status and filename -> sha256. */
  async function served(project: string): Promise<{ status: number; files: Record<string, string | undefined> }> {
    const r = await client.get(`https://pypi.org/simple/${project}/`, { accept: JSON_ACCEPT, 'cache-control': 'max-age=0' });
    const files = r.status === 200 ? Object.fromEntries((JSON.parse(r.body.toString()) as JsonPage).files.map((x) => [x.filename, x.hashes.sha256])) : {};
    return { status: r.status, files };
  }
  const expected = (...fs: BuiltFile[]): Record<string, string> => Object.fromEntries(fs.map((x) => [x.filename, x.sha256]));

  it('sends the stored ETag and Last-Modified once the page expires, and a 304 makes it fresh again', async () => {
    const [v10, v11] = [file('revalpkg', '1.0'), file('revalpkg', '1.1')];
    expect(await served('revalpkg')).toEqual({ status: 200, files: expected(v10, v11) });
    // The daemon stamped the page before its answer arrived: expiry is at most PAGE_MAX_AGE from here.
    const fetchedBy = Date.now();
    const [first] = upstreamPageRequests('revalpkg');
    expect(first?.status).toBe(200);
    expect(first?.headers['if-none-match']).toBeUndefined();
    expect(first?.headers['if-modified-since']).toBeUndefined();
    const etag = first?.responseHeaders?.ETag;
    const lastModified = first?.responseHeaders?.['Last-Modified'];
    expect(etag).toMatch(/^"[0-9a-f]+"$/);
    expect(lastModified).toMatch(/GMT$/);
    // Fresh: served from the index, upstream not asked.
    expect(await served('revalpkg')).toEqual({ status: 200, files: expected(v10, v11) });
    expect(upstreamPageRequests('revalpkg')).toHaveLength(1);
    expect(await revalidated()).toBe(0);

    await sleep(fetchedBy + PAGE_MAX_AGE * 1000 + 300 - Date.now());
    const revalidatedFrom = Date.now();
    expect(await served('revalpkg')).toEqual({ status: 200, files: expected(v10, v11) });
    const revalidatedBy = Date.now();
    // The 304 moved fetchedAt (to revalidatedFrom or later): fresh again, so upstream is not asked.
    expect(await served('revalpkg')).toEqual({ status: 200, files: expected(v10, v11) });
    expect(Date.now() - revalidatedFrom).toBeLessThan(PAGE_MAX_AGE * 1000);
    const asked = upstreamPageRequests('revalpkg');
    expect(asked).toHaveLength(2);
    expect(asked[1]?.headers['if-none-match']).toBe(etag);
    expect(asked[1]?.headers['if-modified-since']).toBe(lastModified);
    expect(asked[1]?.status).toBe(304);
    expect(await revalidated()).toBe(1);
    await waitFor('the revalidated log line', async () => (await reval.logs()).some((l) => l.path === '/simple/revalpkg/' && l.cache === 'revalidated'), 5_000, 100);

    // A listing that changed upstream comes back 200 on the next revalidation and replaces the page.
    pypi.faults.hidden.add(v10.filename);
    try {
      await sleep(revalidatedBy + PAGE_MAX_AGE * 1000 + 300 - Date.now());
      expect(await served('revalpkg')).toEqual({ status: 200, files: expected(v11) });
      const third = upstreamPageRequests('revalpkg')[2];
      expect(third?.headers['if-none-match']).toBe(etag);
      expect(third?.status).toBe(200);
      expect(await revalidated()).toBe(1);
    } finally {
      pypi.faults.hidden.delete(v10.filename);
    }
  });

  it('revalidates with If-Modified-Since alone when upstream gives no ETag', async () => {
    const f = file('datedpkg', '1.0');
    pypi.faults.pageEtags = false;
    try {
      expect(await served('datedpkg')).toEqual({ status: 200, files: expected(f) });
      const fetchedBy = Date.now();
      const [first] = upstreamPageRequests('datedpkg');
      expect(first?.responseHeaders?.ETag).toBeUndefined();
      const lastModified = first?.responseHeaders?.['Last-Modified'];
      expect(lastModified).toMatch(/GMT$/);
      const before = await revalidated();
      await sleep(fetchedBy + PAGE_MAX_AGE * 1000 + 300 - Date.now());
      const revalidatedFrom = Date.now();
      expect(await served('datedpkg')).toEqual({ status: 200, files: expected(f) });
      expect(await served('datedpkg')).toEqual({ status: 200, files: expected(f) });
      expect(Date.now() - revalidatedFrom).toBeLessThan(PAGE_MAX_AGE * 1000);
      const asked = upstreamPageRequests('datedpkg');
      expect(asked).toHaveLength(2);
      expect(asked[1]?.headers['if-none-match']).toBeUndefined();
      expect(asked[1]?.headers['if-modified-since']).toBe(lastModified);
      expect(asked[1]?.status).toBe(304);
      expect(await revalidated()).toBe(before + 1);
    } finally {
      pypi.faults.pageEtags = true;
    }
  });
});

describe('kill -9 during a download', () => {
  it('leaves no partial blob; after a restart the index opens and the same file downloads and verifies', async () => {
    const big = file('killpkg', '1.0');
    const small = file('killdep', '1.0');
    const victim = await world.startDaemon({ home: join(world.dir, 'home-kill') });
    const { home } = victim;
    // A file fully cached before the kill: it must survive it.
    const kept = await viaProxy(victim, small);
    expect(kept).toMatchObject({ status: 200, received: small.size, sha256: small.sha256 });
    await waitFor('the small blob', () => existsSync(blobPath(home, small.sha256)), 5_000, 50);

    pypi.faults.slow.set(big.filename, 1_000_000);
    const client = proxyClient(victim.address, victim.pipEnv.PIP_CERT ?? '');
    let download: Promise<Counted> | undefined;
    let oldPid = -1;
    try {
      expect((await client.get('https://pypi.org/simple/killpkg/', { accept: JSON_ACCEPT })).status).toBe(200);
      download = client.getCounting(fileUrl(big));
      await waitFor('the download to be in flight upstream', () => (pypi.inFlight.get(big.filename) ?? 0) > 0, 15_000, 20);
      await waitFor(
        'part of the body in the temp dir',
        async () => {
          for (const name of await readdir(join(home, 'tmp'))) if ((await stat(join(home, 'tmp', name))).size > 100_000) return true;
          return false;
        },
        15_000,
        20,
      );
      expect(pypi.inFlight.get(big.filename)).toBeGreaterThan(0);
      oldPid = await victim.pid();
      await victim.kill();
      const cut = await download;
      expect(cut.received, JSON.stringify(cut)).toBeLessThan(big.size);
    } finally {
      pypi.faults.slow.delete(big.filename);
      await client.close();
    }
    await waitFor('upstream to see the download end', () => (pypi.inFlight.get(big.filename) ?? 0) === 0, 10_000, 20);
    const fetchesBefore = pypi.counters.files.get(big.filename) ?? 0;

    const again = await world.startDaemon({ home });
    expect(await again.pid()).not.toBe(oldPid);
    expect(await readdir(join(home, 'tmp'))).toEqual([]);
    expect(existsSync(blobPath(home, big.sha256))).toBe(false);
    const blobs: string[] = [];
    for (const shard of await readdir(join(home, 'blobs'))) {
      for (const name of await readdir(join(home, 'blobs', shard))) blobs.push(join(home, 'blobs', shard, name));
    }
    expect(blobs.map((b) => b.replace(/.*\//, ''))).toEqual([small.sha256]);
    for (const b of blobs) expect(await sha256File(b)).toBe(b.replace(/.*\//, ''));

    // The index opened: the page and both files are known, only the small one stored.
    const ls = JSON.parse((await again.cli(['ls', 'killpkg', '--json'])).stdout) as { files: { filename: string; stored: boolean }[] };
    expect(ls.files).toEqual([expect.objectContaining({ filename: big.filename, stored: false })]);
    const smallAgain = await viaProxy(again, small);
    expect(smallAgain).toMatchObject({ status: 200, received: small.size, sha256: small.sha256 });

    const whole = await viaProxy(again, big);
    expect(whole).toMatchObject({ status: 200, received: big.size, sha256: big.sha256 });
    expect(whole.error).toBeUndefined();
    expect(pypi.counters.files.get(big.filename)).toBe(fetchesBefore + 1);
    expect(pypi.counters.files.get(small.filename)).toBe(1);
    await again.published();
    expect(await sha256File(blobPath(home, big.sha256))).toBe(big.sha256);
    expect(pypi.errors).toEqual([]);
  });
});

describe('kill -9 right after a response', () => {
  // The last byte goes to the client once the digest matches; the blob is made
  // durable and recorded just after. A kill in between may lose the file
  // (fetched again later) but never leaves a partial blob or a record of one.
  it('leaves either a whole, recorded blob or nothing; never a partial blob or a dangling record', async () => {
    const home = join(world.dir, 'home-just-sent');
    const outcomes: string[] = [];
    for (const version of ['1.0', '2.0', '3.0']) {
      const f = file('justsent', version);
      const d = await world.startDaemon({ home });
      const sent = await viaProxy(d, f);
      expect(sent).toMatchObject({ status: 200, received: f.size, sha256: f.sha256 });
      await d.kill(); // no wait of any kind between the last byte and the kill

      const again = await world.startDaemon({ home });
      try {
        expect(await readdir(join(home, 'tmp'))).toEqual([]);
        for (const shard of await readdir(join(home, 'blobs'))) {
          for (const name of await readdir(join(home, 'blobs', shard))) expect(await sha256File(join(home, 'blobs', shard, name))).toBe(name);
        }
        const ls = JSON.parse((await again.cli(['ls', 'justsent', '--json'])).stdout) as { files: { filename: string; stored: boolean }[] };
        const listed = ls.files.find((x) => x.filename === f.filename);
        expect(listed, `${f.filename} in the catalog`).toBeDefined();
        expect(listed?.stored).toBe(existsSync(blobPath(home, f.sha256)));
        outcomes.push(listed?.stored ? 'stored' : 'lost');
        const verified = await again.cli(['verify', '--json']);
        expect(verified.code, verified.stderr).toBe(0);
        expect((JSON.parse(verified.stdout) as { damaged: unknown[] }).damaged).toEqual([]);
        // Whichever it was, the file is served whole now.
        expect(await viaProxy(again, f)).toMatchObject({ status: 200, received: f.size, sha256: f.sha256 });
      } finally {
        await again.stop();
      }
    }
    expect(outcomes).toHaveLength(3);
  });
});
