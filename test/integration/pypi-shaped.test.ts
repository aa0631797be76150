import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIG_PROJECT, buildPypiShaped, type PypiShaped } from '../fixtures/pypi-shaped.js';
import type { TestDaemon } from '../helpers/daemon.js';
import { pageEntries, type PageEntry } from '../helpers/page-entries.js';
import { proxyClient } from '../helpers/proxy-client.js';
import { createWorld, type World } from '../helpers/world.js';

/**
 * Property: for every project of a PyPI-shaped index (real filenames and URL
 * layout from a real lock file, thousands of files), the page pipcache serves
 * lists exactly what upstream lists, in both formats and both modes, online,
 * offline once the files were fetched, and after a restart.
 */

const JSON_ACCEPT = 'application/vnd.pypi.simple.v1+json';
const HTML_ACCEPT = 'text/html';
const FORMATS = [JSON_ACCEPT, HTML_ACCEPT] as const;
const POOL = 16;

let world: World;
let shaped: PypiShaped;
let daemon: TestDaemon;
/** project -> entries as upstream lists them (checked identical in HTML and JSON). */
const upstream = new Map<string, PageEntry[]>();
/** Plain HTTP client for index mode (kept-alive connections, closed before a restart). */
let local = new Agent({ connections: POOL });

interface Mismatch {
  project: string;
  view: string;
  missing: string[];
  extra: string[];
}

interface PassResult {
  pages: number;
  entries: number;
  mismatches: Mismatch[];
  /** Real (lock-file) filenames seen on every page of the pass. */
  realSeen: number;
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** What a page says about a file, as one comparable string. In index mode the URL must be the daemon's own. */
function key(e: PageEntry, mode: 'proxy' | 'index'): string {
  let where = e.url;
  if (mode === 'index') {
    const u = new URL(e.url);
    const last = decodeURIComponent(u.pathname.slice(u.pathname.lastIndexOf('/') + 1));
    where = u.pathname.startsWith('/files/') && last === e.filename ? 'local' : e.url;
  }
  return JSON.stringify([e.filename, e.sha256, e.requiresPython, e.yanked, e.coreMetadata, where]);
}

function expectedKey(e: PageEntry, mode: 'proxy' | 'index'): string {
  return JSON.stringify([e.filename, e.sha256, e.requiresPython, e.yanked, e.coreMetadata, mode === 'index' ? 'local' : e.url]);
}

function compare(project: string, view: string, got: PageEntry[], want: PageEntry[], mode: 'proxy' | 'index'): Mismatch | null {
  const g = new Set(got.map((e) => key(e, mode)));
  const w = new Set(want.map((e) => expectedKey(e, mode)));
  const missing = [...w].filter((k) => !g.has(k));
  const extra = [...g].filter((k) => !w.has(k));
  if (got.length !== g.size) extra.push(`(${got.length - g.size} duplicate entries)`);
  return missing.length === 0 && extra.length === 0 ? null : { project, view, missing, extra };
}

type ProxyClient = ReturnType<typeof proxyClient>;

async function daemonPage(d: TestDaemon, mode: 'proxy' | 'index', project: string, accept: string, client: ProxyClient | null) {
  if (mode === 'proxy') {
    if (!client) throw new Error('proxy mode needs a proxy client');
    const url = `https://pypi.org/simple/${project}/`;
    const r = await client.get(url, { accept });
    return { url, status: r.status, type: String(r.headers['content-type']), body: r.body.toString('utf8') };
  }
  const url = `${d.address}/simple/${project}/`;
  const r = await request(url, { dispatcher: local, headers: { accept }, headersTimeout: 30_000, bodyTimeout: 30_000 });
  const body = await r.body.text();
  return { url, status: r.statusCode, type: String(r.headers['content-type']), body };
}

/** Every project, both formats, both modes, against `want`. */
async function checkPages(d: TestDaemon, label: string, want: (project: string) => PageEntry[]): Promise<PassResult> {
  const client = proxyClient(d.address, d.pipEnv.PIP_CERT ?? '');
  const real = new Set(shaped.real.map((r) => r.filename));
  const seenReal = new Map<string, number>();
  const result: PassResult = { pages: 0, entries: 0, mismatches: [], realSeen: 0 };
  try {
    await pool(shaped.projects, 4, async (project) => {
      for (const mode of ['proxy', 'index'] as const) {
        for (const accept of FORMATS) {
          const view = `${label} ${mode} ${accept === JSON_ACCEPT ? 'json' : 'html'}`;
          const page = await daemonPage(d, mode, project, accept, client);
          if (page.status !== 200) {
            result.mismatches.push({ project, view, missing: [`HTTP ${page.status}: ${page.body.slice(0, 200)}`], extra: [] });
            continue;
          }
          const got = pageEntries(page.body, page.type, page.url);
          result.pages += 1;
          result.entries += got.length;
          for (const e of got) if (real.has(e.filename)) seenReal.set(e.filename, (seenReal.get(e.filename) ?? 0) + 1);
          const m = compare(project, view, got, want(project), mode);
          if (m) result.mismatches.push(m);
        }
      }
    });
  } finally {
    await client.close();
  }
  // A real filename round-trips when every one of the pass's four views lists it.
  result.realSeen = [...seenReal.values()].filter((n) => n === 4).length;
  const missingFiles = result.mismatches.reduce((n, m) => n + m.missing.length, 0);
  console.log(
    `${label}: ${result.pages} pages, ${result.entries} entries, ${result.mismatches.length} mismatched pages (${missingFiles} entries missing), ` +
      `${result.realSeen}/${real.size} real filenames round-trip`,
  );
  return result;
}

function describeMismatches(ms: Mismatch[]): string {
  return ms
    .slice(0, 6)
    .map((m) => `${m.view} ${m.project}: missing ${m.missing.length} [${m.missing.slice(0, 2).join(' ')}] extra ${m.extra.length} [${m.extra.slice(0, 2).join(' ')}]`)
    .join('\n');
}

function assertPass(r: PassResult, expectedEntries: number): void {
  expect(r.mismatches.length, describeMismatches(r.mismatches)).toBe(0);
  expect(r.pages).toBe(shaped.projects.length * 4);
  expect(r.entries).toBe(expectedEntries * 4);
}

const allEntries = (): number => [...upstream.values()].reduce((n, es) => n + es.length, 0);
const hashedOnly = (project: string): PageEntry[] => (upstream.get(project) ?? []).filter((e) => e.sha256 !== null);
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  const t0 = performance.now();
  world = await createWorld('pypi-shaped', []);
  const t1 = performance.now();
  shaped = await buildPypiShaped(join(world.dir, 'pypi-shaped'));
  const t2 = performance.now();
  world.pypi.addFiles(shaped.files);
  daemon = await world.startDaemon();
  // Upstream's own listing, read straight from the fake index in both formats.
  const direct = new Agent({ connect: { ca: world.ca.certPem, servername: 'pypi.org' }, connections: 4 });
  await pool(shaped.projects, 4, async (project) => {
    const lists: PageEntry[][] = [];
    for (const accept of FORMATS) {
      const r = await request(`https://127.0.0.1:${world.pypi.port}/simple/${project}/`, { dispatcher: direct, headers: { accept } });
      const body = await r.body.text();
      if (r.statusCode !== 200) throw new Error(`fake index: /simple/${project}/ answered ${r.statusCode}`);
      lists.push(pageEntries(body, String(r.headers['content-type']), `https://pypi.org/simple/${project}/`));
    }
    const [json, html] = lists as [PageEntry[], PageEntry[]];
    const a = compare(project, 'upstream json vs html', html, json, 'proxy');
    if (a) throw new Error(`the fake index's two formats disagree: ${describeMismatches([a])}`);
    upstream.set(project, json);
  });
  await direct.close();
  world.pypi.resetCounters();
  const secs = (a: number, b: number): string => ((b - a) / 1000).toFixed(1);
  console.log(`setup: world ${secs(t0, t1)} s, generated files ${secs(t1, t2)} s, daemon and upstream pages ${secs(t2, performance.now())} s`);
}, 120_000);

afterAll(async () => {
  await local.close();
  await world?.close();
});

describe('a PyPI-shaped index through pipcache', () => {
  it('is shaped like PyPI: real names, a 2,000+ file project, every file attribute PyPI pages carry', () => {
    const files = shaped.files;
    const names = new Set(files.map((f) => f.filename));
    expect(shaped.real.length).toBe(2077);
    expect(shaped.real.every((r) => names.has(r.filename))).toBe(true);
    expect(files.filter((f) => f.project === BIG_PROJECT).length).toBeGreaterThanOrEqual(2000);
    const versions = new Map<string, Set<string>>();
    for (const f of files) versions.set(f.project, (versions.get(f.project) ?? new Set()).add(f.version));
    expect([...versions.values()].every((v) => v.size >= 2)).toBe(true);
    expect(files.some((f) => f.filename.endsWith('.zip'))).toBe(true);
    expect(files.some((f) => f.filename.endsWith('.tar.gz'))).toBe(true);
    expect(files.some((f) => /^[A-Z]/.test(f.filename))).toBe(true);
    expect(files.some((f) => /^[a-z]+\.[a-z]+-/.test(f.filename))).toBe(true);
    expect(files.some((f) => f.filename.includes('-py2.py3-none-any.whl'))).toBe(true);
    expect(files.some((f) => f.yanked === true)).toBe(true);
    expect(files.some((f) => typeof f.yanked === 'string' && /[<>&"]/.test(f.yanked))).toBe(true);
    expect(files.some((f) => f.requiresPython?.includes('!=') && f.requiresPython.includes('<'))).toBe(true);
    expect(files.some((f) => f.kind === 'wheel' && f.metadata)).toBe(true);
    expect(files.some((f) => f.kind === 'wheel' && !f.metadata)).toBe(true);
    expect(files.some((f) => f.hashless)).toBe(true);
    expect(files.some((f) => f.filename.length > 100)).toBe(true);
    expect(allEntries()).toBe(files.length);
    console.log(`PyPI-shaped index: ${shaped.projects.length} projects, ${files.length} files (${BIG_PROJECT}: ${files.filter((f) => f.project === BIG_PROJECT).length})`);
  });

  it('online: every page lists exactly what upstream lists, HTML and JSON, proxy and index mode', async () => {
    const r = await checkPages(daemon, 'online', (p) => upstream.get(p) ?? []);
    expect(r.realSeen).toBe(2077);
    assertPass(r, allEntries());
  }, 120_000);

  it('fetches every hashed file and its metadata once through the daemon, each verified', async () => {
    type Job = { url: string; sha256: string | null; what: string };
    const jobs: Job[] = [];
    // Index mode's file URLs (`/files/<project>/<version>/<filename>`), fetched with a plain HTTP
    // client; built from what upstream lists, so a page that lost entries cannot shrink the set.
    // The daemon learns a project's files from its page (which this test does not inspect).
    await pool(shaped.projects, 4, async (project) => {
      const page = await daemonPage(daemon, 'index', project, JSON_ACCEPT, null);
      expect(page.status, `${project}: ${page.body.slice(0, 200)}`).toBe(200);
    });
    const listed = new Map([...upstream.values()].flat().map((e) => [e.filename, e]));
    for (const f of shaped.files) {
      const e = listed.get(f.filename);
      if (!e) throw new Error(`upstream does not list ${f.filename}`);
      const url = `${daemon.address}/files/${f.project}/${encodeURIComponent(f.version)}/${encodeURIComponent(f.filename)}`;
      jobs.push({ url, sha256: e.sha256, what: f.filename });
      if (e.coreMetadata !== null && e.coreMetadata !== 'true') jobs.push({ url: `${url}.metadata`, sha256: e.coreMetadata, what: `${f.filename}.metadata` });
    }
    expect(jobs.filter((j) => !j.what.endsWith('.metadata')).length).toBe(allEntries());
    const failures: string[] = [];
    const started = performance.now();
    await pool(jobs, POOL, async (job) => {
      try {
        const r = await request(job.url, { dispatcher: local, headersTimeout: 30_000, bodyTimeout: 30_000 });
        const body = Buffer.from(await r.body.arrayBuffer());
        if (r.statusCode !== 200) failures.push(`${job.what}: HTTP ${r.statusCode} ${body.toString('utf8').slice(0, 120)}`);
        else if (job.sha256 !== null && sha256(body) !== job.sha256) failures.push(`${job.what}: sha256 mismatch`);
      } catch (err) {
        failures.push(`${job.what}: ${(err as Error).message}`);
      }
    });
    console.log(`fetched ${jobs.length} files and .metadata files in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const problems = failures.length === 0 ? [] : (await daemon.logs()).filter((l) => l.level >= 40 || (l.status ?? 0) >= 500 || l.aborted);
    expect(failures.length, [...failures.slice(0, 10), ...problems.slice(0, 10).map((l) => JSON.stringify(l))].join('\n')).toBe(0);
    expect(world.archiveFetches()).toBe(jobs.filter((j) => !j.what.endsWith('.metadata')).length);
  }, 180_000);

  it('offline: the same pages, less the files upstream gave no hash for, with no upstream request', async () => {
    expect((await daemon.cli(['offline', 'on'])).code).toBe(0);
    world.pypi.resetCounters();
    const r = await checkPages(daemon, 'offline', hashedOnly);
    const hashless = [...upstream.values()].flat().filter((e) => e.sha256 === null).length;
    expect(hashless).toBeGreaterThan(0);
    assertPass(r, allEntries() - hashless);
    expect(r.realSeen).toBe(2077);
    expect(world.pypi.counters.requests.length).toBe(0);
  }, 120_000);

  it('after a restart: the same pages offline, then online from the index without refetching them', async () => {
    const t0 = performance.now();
    await local.close();
    local = new Agent({ connections: POOL });
    await daemon.stop();
    daemon = await world.startDaemon({ home: daemon.home });
    console.log(`restart: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const hashless = [...upstream.values()].flat().filter((e) => e.sha256 === null).length;
    const offline = await checkPages(daemon, 'restarted offline', hashedOnly);
    assertPass(offline, allEntries() - hashless);
    expect(world.pypi.counters.requests.length).toBe(0);
    expect((await daemon.cli(['offline', 'off'])).code).toBe(0);
    const online = await checkPages(daemon, 'restarted online', (p) => upstream.get(p) ?? []);
    assertPass(online, allEntries());
    expect(online.realSeen).toBe(2077);
    expect(world.pypi.counters.pages.size).toBe(0);
  }, 180_000);
});

