import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { adoptLegacyCatalog, fileKey, Catalog, SCHEMA_VERSION, type FileRecord, type PageRecord } from './catalog.js';

const dir = mkdtempSync(join(tmpdir(), 'pc-index-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let dbs = 0;
const newPath = (): string => join(dir, `db-${dbs++}`);

/** Real filenames from PyPI, short and long (compressed manylinux tags, dotted and uppercase names). */
const REAL: [string, string, string][] = [
  ['markupsafe', '3.0.3', 'MarkupSafe-3.0.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.manylinux_2_28_x86_64.whl'],
  ['markupsafe', '3.0.3', 'markupsafe-3.0.3.tar.gz'],
  ['markupsafe', '3.0.3', 'MarkupSafe-3.0.3-cp313-cp313t-musllinux_1_2_aarch64.whl'],
  ['aiohttp', '3.14.3', 'aiohttp-3.14.3-cp310-cp310-manylinux2014_ppc64le.manylinux_2_17_ppc64le.manylinux_2_28_ppc64le.whl'],
  ['aiohttp', '3.14.3', 'aiohttp-3.14.3-cp310-cp310-macosx_10_9_universal2.whl'],
  ['zope-interface', '7.2', 'zope.interface-7.2-cp311-cp311-manylinux_2_5_x86_64.manylinux1_x86_64.manylinux_2_17_x86_64.manylinux2014_x86_64.whl'],
  ['pydantic-core', '2.41.5', 'pydantic_core-2.41.5-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl'],
  ['x', '1.0', `x-1.0-py3-none-${'manylinux_2_17_x86_64.'.repeat(40)}whl`],
];

function record(project: string, version: string, filename: string, extra: Partial<FileRecord> = {}): FileRecord {
  return {
    project,
    version,
    filename,
    kind: filename.endsWith('.whl') ? 'wheel' : 'sdist',
    origin: 'pypi.org',
    url: `https://files.pythonhosted.org/packages/ab/cd/${'e'.repeat(60)}/${filename}`,
    sha256: 'a'.repeat(64),
    size: 10,
    yanked: false,
    coreMetadata: false,
    firstSeen: '2026-01-01T00:00:00.000Z',
    lastServed: null,
    hits: 0,
    stored: false,
    metadataStored: null,
    goneUpstream: false,
    ...extra,
  };
}

function page(project: string): PageRecord {
  return { project, name: project, origin: 'pypi.org', upstreamUrl: `https://pypi.org/simple/${project}/`, etag: '"e"', lastModified: null, fetchedAt: 1, maxAge: 600 };
}

const byProject = (project: string): string[] => REAL.filter(([p]) => p === project).map(([, , f]) => f).sort();

describe('Catalog keys', () => {
  it('range scans and point reads agree for names of any length', async () => {
    const db = new Catalog(newPath());
    await db.migrate();
    for (const project of new Set(REAL.map(([p]) => p))) {
      await db.savePage(page(project), REAL.filter(([p]) => p === project).map(([p, v, f]) => record(p, v, f)));
    }
    for (const project of new Set(REAL.map(([p]) => p))) {
      expect(db.projectFiles(project).map((r) => r.filename).sort()).toEqual(byProject(project));
    }
    for (const [p, v, f] of REAL) {
      expect(db.getFile(fileKey(p, v, f, 'pypi.org'))?.filename).toBe(f);
      expect(db.lookupUrl(record(p, v, f).url)?.key).toEqual(fileKey(p, v, f, 'pypi.org'));
    }
    // A project whose name is a prefix of another's sees only its own files.
    await db.savePage(page('x-y'), [record('x-y', '1.0', 'x_y-1.0-py3-none-any.whl')]);
    expect(db.projectFiles('x').map((r) => r.project)).toEqual(['x']);
    expect(db.schemaVersion()).toBe(SCHEMA_VERSION);
    await db.close();
  });

  it('scopes records by origin: one index host never replaces another\'s record of the same file', async () => {
    const db = new Catalog(newPath());
    await db.migrate();
    const [p, v, f] = REAL[0] as [string, string, string];
    await db.savePage(page(p), [record(p, v, f, { sha256: 'a'.repeat(64), stored: true })]);
    await db.savePage({ ...page(p), origin: 'mirror.example' }, [record(p, v, f, { origin: 'mirror.example', sha256: 'b'.repeat(64) })]);
    expect(db.getFile(fileKey(p, v, f, 'pypi.org'))).toMatchObject({ sha256: 'a'.repeat(64), stored: true });
    expect(db.getFile(fileKey(p, v, f, 'mirror.example'))).toMatchObject({ sha256: 'b'.repeat(64), stored: false });
    expect(db.findFile(p, v, f, ['pypi.org'])?.sha256).toBe('a'.repeat(64));
    expect(db.findFile(p, v, f, ['mirror.example', 'pypi.org'])?.sha256).toBe('b'.repeat(64));
    expect(db.findFile(p, v, f, [])).toBeDefined();
    expect(db.findFile(p, v, `${f}x`, ['pypi.org'])).toBeUndefined();
    expect(db.projectFiles(p)).toHaveLength(2);
    await db.close();
  });

  it('a fresh page keeps stored files it no longer lists, long names included', async () => {
    const db = new Catalog(newPath());
    await db.migrate();
    const [p, v, f] = REAL[0] as [string, string, string];
    await db.savePage(page(p), [record(p, v, f, { stored: true }), record(p, v, 'markupsafe-3.0.3.tar.gz')]);
    await db.savePage(page(p), []);
    const left = db.projectFiles(p);
    expect(left.map((r) => [r.filename, r.goneUpstream])).toEqual([[f, true]]);
    await db.close();
  });
});

/** Layouts 1 and 2 named a record's host `index`. */
function withIndexField<T extends { origin: string }>(rec: T): Omit<T, 'origin'> & { index: string } {
  const { origin, ...rest } = rec;
  return { ...rest, index: origin };
}

describe('Catalog migration', () => {
  /** Writes records the way layout 1 did: NUL-joined string keys, `index` fields, no schema version. */
  async function writeLayout1(path: string, files: FileRecord[]): Promise<void> {
    const root = open({ path, compression: false });
    const f = root.openDB<unknown, string>({ name: 'files' });
    const pg = root.openDB<unknown, string>({ name: 'pages' });
    const u = root.openDB<{ key: string; metadata: boolean }, string>({ name: 'urls' });
    const s = root.openDB<unknown, string>({ name: 'settings' });
    await root.transaction(() => {
      for (const r of files) {
        const key = `${r.project}\u0000${r.version}\u0000${r.filename}`;
        f.put(key, withIndexField(r));
        u.put(r.url, { key, metadata: false });
        pg.put(`pypi.org\u0000${r.project}`, withIndexField(page(r.project)));
      }
      s.put('offline', true);
    });
    // The bug layout 1 had: long keys are invisible to a prefix scan.
    const seen = [...f.getRange({ start: 'markupsafe\u0000', end: 'markupsafe\u0000\uffff' })].length;
    expect(seen).toBeLessThan(byProject('markupsafe').length);
    await root.close();
  }

  it('rewrites a layout-1 index under array keys, keeping every record, stored state and setting', async () => {
    const path = newPath();
    await writeLayout1(
      path,
      REAL.map(([p, v, f], i) => record(p, v, f, { stored: i % 2 === 0, hits: i })),
    );
    const db = new Catalog(path);
    expect(db.schemaVersion()).toBe(1);
    const report = await db.migrate();
    expect(report).toEqual({ from: 1, to: SCHEMA_VERSION, files: REAL.length, pages: new Set(REAL.map(([p]) => p)).size, urls: REAL.length, dropped: 0 });
    for (const project of new Set(REAL.map(([p]) => p))) {
      expect(db.projectFiles(project).map((r) => r.filename).sort()).toEqual(byProject(project));
      expect(db.getPage('pypi.org', project)?.etag).toBe('"e"');
    }
    REAL.forEach(([p, v, f], i) => {
      const rec = db.getFile(fileKey(p, v, f, 'pypi.org'));
      expect(rec?.stored).toBe(i % 2 === 0);
      expect(rec?.hits).toBe(i);
      expect(db.lookupUrl(rec?.url ?? '')).toEqual({ key: fileKey(p, v, f, 'pypi.org'), metadata: false });
    });
    expect(db.getSetting('offline')).toBe(true);
    expect(db.schemaVersion()).toBe(SCHEMA_VERSION);
    expect(await db.migrate()).toBeNull();
    await db.close();
    // And it stays migrated across opens.
    const again = new Catalog(path);
    expect(await again.migrate()).toBeNull();
    expect(again.projectFiles('markupsafe')).toHaveLength(byProject('markupsafe').length);
    await again.close();
  });

  it('renames the host field of a layout-2 catalog to origin, keeping keys, stored state and URLs', async () => {
    const path = newPath();
    const root = open({ path, compression: false });
    const f = root.openDB<unknown, unknown>({ name: 'files' });
    const pg = root.openDB<unknown, unknown>({ name: 'pages' });
    const u = root.openDB<unknown, string>({ name: 'urls' });
    const st = root.openDB<unknown, string>({ name: 'settings' });
    const recs = REAL.map(([p, v, fn], i) => record(p, v, fn, { stored: i % 2 === 0 }));
    await root.transaction(() => {
      for (const r of recs) {
        const key = fileKey(r.project, r.version, r.filename, r.origin);
        f.put(key, withIndexField(r));
        u.put(r.url, { key, metadata: false });
        pg.put(['pypi.org', r.project], withIndexField(page(r.project)));
      }
      st.put('schemaVersion', 2);
    });
    await root.close();
    const db = new Catalog(path);
    expect(db.schemaVersion()).toBe(2);
    const report = await db.migrate();
    expect(report).toMatchObject({ from: 2, to: SCHEMA_VERSION, files: recs.length, urls: recs.length, dropped: 0 });
    recs.forEach((r, i) => {
      const got = db.getFile(fileKey(r.project, r.version, r.filename, 'pypi.org'));
      expect(got?.origin).toBe('pypi.org');
      expect(got && 'index' in got).toBe(false);
      expect(got?.stored).toBe(i % 2 === 0);
      expect(db.lookupUrl(r.url)).toEqual({ key: fileKey(r.project, r.version, r.filename, 'pypi.org'), metadata: false });
    });
    expect(db.getPage('pypi.org', 'markupsafe')?.origin).toBe('pypi.org');
    await db.close();
  });

  it('moves a catalog from the directory older versions used, once', async () => {
    const legacy = newPath();
    const path = newPath();
    mkdirSync(legacy);
    writeFileSync(join(legacy, 'data.mdb'), 'x');
    expect(await adoptLegacyCatalog(legacy, path)).toBe(true);
    expect(existsSync(join(path, 'data.mdb'))).toBe(true);
    expect(existsSync(legacy)).toBe(false);
    // Never over a catalog that is already there.
    mkdirSync(legacy);
    expect(await adoptLegacyCatalog(legacy, path)).toBe(false);
    expect(existsSync(legacy)).toBe(true);
  });

  it('refuses an index written by a newer layout', async () => {
    const path = newPath();
    const db = new Catalog(path);
    await db.setSetting('schemaVersion', SCHEMA_VERSION + 1);
    await expect(db.migrate()).rejects.toThrow(/newer pipcache/);
    await db.close();
  });
});
