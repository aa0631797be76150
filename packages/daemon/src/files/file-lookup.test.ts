import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { PageOutcome, PageResult } from '../pages/page-service.js';
import { fileKey, type Catalog, type FileRecord, type PageRecord } from '../store/catalog.js';
import { LmdbCatalog } from '../store/lmdb-catalog.js';
import { configuredIndexes, DEFAULT_CONFIG, indexOfFile } from '@pipcache/shared';
import { FileLookup, type PageSource } from './file-lookup.js';

const dir = mkdtempSync(join(tmpdir(), 'pc-lookup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let dbs = 0;

const LONG = 'MarkupSafe-3.0.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.manylinux_2_28_x86_64.whl';
const urlOf = (filename: string): string => `https://files.pythonhosted.org/packages/ab/cd/${'e'.repeat(60)}/${encodeURIComponent(filename)}`;

function record(project: string, version: string, filename: string, extra: Partial<FileRecord> = {}): FileRecord {
  return {
    project,
    version,
    filename,
    kind: filename.endsWith('.whl') ? 'wheel' : 'sdist',
    origin: 'pypi.org',
    url: urlOf(filename),
    sha256: 'a'.repeat(64),
    size: 10,
    yanked: false,
    coreMetadata: { hashes: { sha256: 'b'.repeat(64) } },
    firstSeen: '2026-01-01T00:00:00.000Z',
    lastServed: null,
    hits: 0,
    stored: false,
    storedSize: null,
    metadataStored: null,
    metadataSize: null,
    goneUpstream: false,
    ...extra,
  };
}

/** Stands in for upstream: each project's listing, saved into the index when its page is asked for. */
class Upstream implements PageSource {
  listings = new Map<string, FileRecord[]>();
  calls: { origin: string; project: string; revalidate: boolean }[] = [];
  /** Outcome of the next get (a fresh cached page is a 'hit'); 'fail' throws. */
  next: PageOutcome | 'fail' = 'miss';
  constructor(private readonly catalog: Catalog) {}

  async get(origin: URL, project: string, opts: { revalidate?: boolean } = {}): Promise<PageResult | null> {
    this.calls.push({ origin: origin.origin, project, revalidate: opts.revalidate === true });
    const outcome = this.next;
    this.next = 'miss';
    if (outcome === 'fail') throw new Error('connect ECONNREFUSED');
    const listed = this.listings.get(project);
    if (!listed) return null;
    const page: PageRecord = { project, name: project, origin: 'pypi.org', upstreamUrl: '', etag: null, lastModified: null, fetchedAt: Date.now(), maxAge: 600 };
    if (outcome !== 'hit') await this.catalog.savePage(page, listed);
    return { record: page, files: () => this.catalog.projectFiles(project), outcome, revision: 0 };
  }
}

const INDEXES = configuredIndexes({ ...DEFAULT_CONFIG, interceptHosts: [...DEFAULT_CONFIG.interceptHosts, 'pypi.example.com'] });
function rootOf(url: URL): URL | undefined {
  const index = indexOfFile(INDEXES, url);
  return index && new URL(index.root);
}

let catalog: Catalog;
let upstream: Upstream;
let offline: boolean;
let lookup: FileLookup;

beforeEach(async () => {
  const lmdb = new LmdbCatalog(join(dir, `catalog-${dbs++}`));
  await lmdb.migrate();
  catalog = lmdb;
  upstream = new Upstream(catalog);
  offline = false;
  lookup = new FileLookup({ catalog, pages: upstream, mayFetch: () => !offline, indexOfFile: rootOf, log: pino({ level: 'silent' }) });
  return () => catalog.close();
});

describe('FileLookup', () => {
  it('maps the PyPI file host to the PyPI index, other intercepted hosts to themselves', () => {
    expect(rootOf(new URL('https://files.pythonhosted.org/packages/x.whl'))?.href).toBe('https://pypi.org/simple/');
    expect(rootOf(new URL('https://pypi.example.com/files/x.whl'))?.href).toBe('https://pypi.example.com/simple/');
    expect(rootOf(new URL('https://elsewhere.example/x.whl'))).toBeUndefined();
  });

  it('finds a URL a page listed without asking for the page', async () => {
    const rec = record('markupsafe', '3.0.3', LONG);
    await catalog.savePage({ project: 'markupsafe', name: 'MarkupSafe', origin: 'pypi.org', upstreamUrl: '', etag: null, lastModified: null, fetchedAt: 0, maxAge: 0 }, [rec]);
    expect(await lookup.byUrl(new URL(rec.url))).toEqual({ lookup: { key: fileKey('markupsafe', '3.0.3', LONG, 'pypi.org'), metadata: false } });
    expect(upstream.calls).toEqual([]);
  });

  it("learns a direct URL's digest from its project's page, archive and .metadata", async () => {
    upstream.listings.set('markupsafe', [record('markupsafe', '3.0.3', LONG)]);
    const other = `https://files.pythonhosted.org/packages/00/11/${'2'.repeat(60)}/${LONG}`;
    expect(await lookup.byUrl(new URL(other))).toEqual({ lookup: { key: fileKey('markupsafe', '3.0.3', LONG, 'pypi.org'), metadata: false } });
    expect(upstream.calls).toEqual([{ origin: 'https://pypi.org', project: 'markupsafe', revalidate: false }]);
    // Known by its filename now: no second page request, .metadata included.
    expect(await lookup.byUrl(new URL(`${other}.metadata`))).toEqual({ lookup: { key: fileKey('markupsafe', '3.0.3', LONG, 'pypi.org'), metadata: true } });
    expect(upstream.calls).toHaveLength(1);
  });

  it('asks again when a still-fresh page predates the file', async () => {
    upstream.listings.set('pkg', [record('pkg', '2.0', 'pkg-2.0-py3-none-any.whl')]);
    upstream.next = 'hit';
    const found = await lookup.byUrl(new URL(urlOf('pkg-2.0-py3-none-any.whl')));
    expect(found.lookup?.key).toEqual(fileKey('pkg', '2.0', 'pkg-2.0-py3-none-any.whl', 'pypi.org'));
    expect(upstream.calls.map((c) => c.revalidate)).toEqual([false, true]);
  });

  it('says why when no digest can be had', async () => {
    upstream.listings.set('pkg', [record('pkg', '1.0', 'pkg-1.0.tar.gz'), record('pkg', '0.9', 'pkg-0.9.tar.gz', { sha256: null })]);
    expect(await lookup.byUrl(new URL(urlOf('pkg-2.0.tar.gz')))).toEqual({ reason: 'uncached: pypi.org/simple/pkg/ does not list pkg-2.0.tar.gz' });
    expect(await lookup.byUrl(new URL(urlOf('nosuch-1.0.tar.gz')))).toEqual({ reason: 'uncached: pypi.org has no project nosuch' });
    const noSha = await lookup.byUrl(new URL(`https://files.pythonhosted.org/elsewhere/pkg-0.9.tar.gz`));
    expect(noSha).toEqual({ lookup: { key: fileKey('pkg', '0.9', 'pkg-0.9.tar.gz', 'pypi.org'), metadata: false }, reason: 'uncached: pypi.org gives no sha256 for pkg-0.9.tar.gz' });
    upstream.next = 'fail';
    expect((await lookup.byUrl(new URL(urlOf('down-1.0-py3-none-any.whl')))).reason).toBe(
      'uncached: the page of down on pypi.org is unavailable: connect ECONNREFUSED',
    );
  });

  it('asks for no page offline, nor for what is not an archive', async () => {
    upstream.listings.set('pkg', [record('pkg', '1.0', 'pkg-1.0.tar.gz')]);
    offline = true;
    expect(await lookup.byUrl(new URL(urlOf('pkg-1.0.tar.gz')))).toEqual({});
    offline = false;
    expect(await lookup.byUrl(new URL('https://files.pythonhosted.org/packages/x/pkg-1.0.egg'))).toEqual({});
    expect(await lookup.byUrl(new URL('https://pypi.org/pypi/pkg/json'))).toEqual({});
    expect(await lookup.byUrl(new URL('https://files.pythonhosted.org/packages/%E0%A4%A.whl'))).toEqual({});
    expect(upstream.calls).toEqual([]);
  });

  it("resolves index mode's /files/ names on the index it fronts", async () => {
    upstream.listings.set('zope-interface', [record('zope-interface', '7.2', 'zope.interface-7.2-py3-none-any.whl')]);
    const found = await lookup.byName(new URL('https://pypi.org'), ['pypi.org'], { project: 'Zope.Interface', version: '7.2', filename: 'zope.interface-7.2-py3-none-any.whl', metadata: false });
    expect(found.lookup?.key).toEqual(fileKey('zope-interface', '7.2', 'zope.interface-7.2-py3-none-any.whl', 'pypi.org'));
    expect(await lookup.byName(new URL('https://pypi.org'), ['pypi.org'], { project: '../x', version: '1', filename: 'x-1.tar.gz', metadata: false })).toEqual({
      reason: 'not a project name: "../x"',
    });
  });
});
