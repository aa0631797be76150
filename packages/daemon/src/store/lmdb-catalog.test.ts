import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open, type Key } from 'lmdb';
import { afterAll, describe, expect, it } from 'vitest';
import { fileKey, type FileRecord } from './catalog.js';
import { describeCatalogContract, fileRecord as record, pageRecord as page, REAL_FILES as REAL } from './catalog.contract.js';
import { adoptLegacyCatalog, SCHEMA_VERSION } from './catalog-layout.js';
import { LmdbCatalog } from './lmdb-catalog.js';

const dir = mkdtempSync(join(tmpdir(), 'pc-catalog-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let dbs = 0;
const newPath = (): string => join(dir, `db-${dbs++}`);

describeCatalogContract('LmdbCatalog', async () => {
  const catalog = new LmdbCatalog(newPath());
  await catalog.migrate();
  return catalog;
});

const byProject = (project: string): string[] => REAL.filter(([p]) => p === project).map(([, , f]) => f).sort();

describe('LmdbCatalog', () => {
  it('writes a new catalog in the current layout', async () => {
    const db = new LmdbCatalog(newPath());
    expect(await db.migrate()).toBeNull();
    expect(db.schemaVersion()).toBe(SCHEMA_VERSION);
    expect(db.getSetting('schemaVersion')).toBe(SCHEMA_VERSION);
    await db.close();
  });
});

/** A file record as layout 3 wrote it: no `storedSize`, `metadataSize` only when it was kept. */
type Layout3File = Omit<FileRecord, 'storedSize' | 'metadataSize'> & { metadataSize?: number };

function asLayout3(rec: FileRecord): Layout3File {
  const { storedSize, metadataSize, ...rest } = rec;
  return metadataSize === null ? rest : { ...rest, metadataSize };
}

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
        f.put(key, withIndexField(asLayout3(r)));
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
    const db = new LmdbCatalog(path);
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
      // A stored archive's size was its verified size.
      expect(rec?.storedSize).toBe(i % 2 === 0 ? 10 : null);
      expect(rec?.metadataSize).toBeNull();
      expect(rec?.hits).toBe(i);
      expect(db.lookupUrl(rec?.url ?? '')).toEqual({ key: fileKey(p, v, f, 'pypi.org'), metadata: false });
    });
    expect(db.getSetting('offline')).toBe(true);
    expect(db.schemaVersion()).toBe(SCHEMA_VERSION);
    expect(await db.migrate()).toBeNull();
    await db.close();
    // And it stays migrated across opens.
    const again = new LmdbCatalog(path);
    expect(await again.migrate()).toBeNull();
    expect(again.projectFiles('markupsafe')).toHaveLength(byProject('markupsafe').length);
    await again.close();
  });

  it('renames the host field of a layout-2 catalog to origin, keeping keys, stored state and URLs', async () => {
    const path = newPath();
    const root = open({ path, compression: false });
    const f = root.openDB<unknown, Key>({ name: 'files' });
    const pg = root.openDB<unknown, Key>({ name: 'pages' });
    const u = root.openDB<unknown, string>({ name: 'urls' });
    const st = root.openDB<unknown, string>({ name: 'settings' });
    const recs = REAL.map(([p, v, fn], i) => record(p, v, fn, { stored: i % 2 === 0 }));
    await root.transaction(() => {
      for (const r of recs) {
        const key = fileKey(r.project, r.version, r.filename, r.origin);
        f.put(key, withIndexField(asLayout3(r)));
        u.put(r.url, { key, metadata: false });
        pg.put(['pypi.org', r.project], withIndexField(page(r.project)));
      }
      st.put('schemaVersion', 2);
    });
    await root.close();
    const db = new LmdbCatalog(path);
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

  it('gives the records of a layout-3 catalog their stored sizes, from what it knew', async () => {
    const path = newPath();
    const root = open({ path, compression: false });
    const f = root.openDB<unknown, Key>({ name: 'files' });
    const u = root.openDB<unknown, string>({ name: 'urls' });
    const st = root.openDB<unknown, string>({ name: 'settings' });
    const [p, v] = ['markupsafe', '3.0.3'];
    const names = byProject(p);
    const recs: FileRecord[] = [
      // Stored, size from the page (or the verified one that replaced it); metadata size kept.
      record(p, v, names[0] as string, { stored: true, size: 1234, metadataStored: 'c'.repeat(64), metadataSize: 56 }),
      // Stored under a page that gave no size; metadata stored before its size was kept.
      record(p, v, names[1] as string, { stored: true, size: null, metadataStored: 'd'.repeat(64) }),
      // Not stored: nothing to size, whatever the stale fields say.
      record(p, v, names[2] as string, { stored: false, size: 99, metadataSize: 7 }),
    ];
    await root.transaction(() => {
      for (const r of recs) {
        const key = fileKey(r.project, r.version, r.filename, r.origin);
        f.put(key, asLayout3(r));
        u.put(r.url, { key, metadata: false });
      }
      st.put('schemaVersion', 3);
    });
    await root.close();
    const db = new LmdbCatalog(path);
    expect(db.schemaVersion()).toBe(3);
    expect(await db.migrate()).toMatchObject({ from: 3, to: 4, files: 3, urls: 3, dropped: 0 });
    const got = recs.map((r) => db.getFile(fileKey(r.project, r.version, r.filename, 'pypi.org')));
    expect(got.map((r) => [r?.stored, r?.storedSize, r?.metadataStored !== null, r?.metadataSize])).toEqual([
      [true, 1234, true, 56],
      [true, null, true, null],
      [false, null, false, null],
    ]);
    expect(got[0]).toMatchObject({ size: 1234, hits: 0, firstSeen: recs[0]?.firstSeen });
    for (const r of recs) expect(db.lookupUrl(r.url)?.key).toEqual(fileKey(r.project, r.version, r.filename, 'pypi.org'));
    expect(db.schemaVersion()).toBe(4);
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
    const db = new LmdbCatalog(path);
    await db.setSetting('schemaVersion', SCHEMA_VERSION + 1);
    await expect(db.migrate()).rejects.toThrow(/newer pipcache/);
    await db.close();
  });
});
