import { afterEach, describe, expect, it } from 'vitest';
import { fileKey, recordKey, type Catalog, type FileRecord, type PageRecord, type PinSet } from './catalog.js';

/**
 * What every Catalog must do, run against each implementation by its own
 * test file: `describeCatalogContract('LmdbCatalog', async () => ...)`.
 * `make` returns a new, empty catalog ready for use; the suite closes it.
 */

/** Real filenames from PyPI, short and long (compressed manylinux tags, dotted and uppercase names). */
export const REAL_FILES: readonly [project: string, version: string, filename: string][] = [
  ['markupsafe', '3.0.3', 'MarkupSafe-3.0.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.manylinux_2_28_x86_64.whl'],
  ['markupsafe', '3.0.3', 'markupsafe-3.0.3.tar.gz'],
  ['markupsafe', '3.0.3', 'MarkupSafe-3.0.3-cp313-cp313t-musllinux_1_2_aarch64.whl'],
  ['aiohttp', '3.14.3', 'aiohttp-3.14.3-cp310-cp310-manylinux2014_ppc64le.manylinux_2_17_ppc64le.manylinux_2_28_ppc64le.whl'],
  ['aiohttp', '3.14.3', 'aiohttp-3.14.3-cp310-cp310-macosx_10_9_universal2.whl'],
  ['zope-interface', '7.2', 'zope.interface-7.2-cp311-cp311-manylinux_2_5_x86_64.manylinux1_x86_64.manylinux_2_17_x86_64.manylinux2014_x86_64.whl'],
  ['pydantic-core', '2.41.5', 'pydantic_core-2.41.5-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl'],
  ['x', '1.0', `x-1.0-py3-none-${'manylinux_2_17_x86_64.'.repeat(40)}whl`],
];

export const SHA_A = 'a'.repeat(64);
export const SHA_B = 'b'.repeat(64);
const SHA_M = 'c'.repeat(64);

export function fileRecord(project: string, version: string, filename: string, extra: Partial<FileRecord> = {}): FileRecord {
  return {
    project,
    version,
    filename,
    kind: filename.endsWith('.whl') ? 'wheel' : 'sdist',
    origin: 'pypi.org',
    url: `https://files.pythonhosted.org/packages/ab/cd/${'e'.repeat(60)}/${filename}`,
    sha256: SHA_A,
    size: 10,
    yanked: false,
    coreMetadata: false,
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

export function pageRecord(project: string, extra: Partial<PageRecord> = {}): PageRecord {
  return { project, name: project, origin: 'pypi.org', upstreamUrl: `https://pypi.org/simple/${project}/`, etag: '"e"', lastModified: null, fetchedAt: 1, maxAge: 600, ...extra };
}

const realOf = (project: string): string[] => REAL_FILES.filter(([p]) => p === project).map(([, , f]) => f).sort();

export function describeCatalogContract(name: string, make: () => Promise<Catalog>): void {
  describe(`Catalog contract: ${name}`, () => {
    const open: Catalog[] = [];
    const fresh = async (): Promise<Catalog> => {
      const catalog = await make();
      open.push(catalog);
      return catalog;
    };
    afterEach(async () => {
      for (const catalog of open.splice(0)) await catalog.close();
    });

    it('round-trips a file added without a page, and maps its URL to it', async () => {
      const db = await fresh();
      const rec = fileRecord('demo', '1.0', 'demo-1.0-py3-none-any.whl', { stored: true, storedSize: 10, imported: true, requiresPython: '>=3.9' });
      await db.putFile(rec);
      expect(db.getFile(recordKey(rec))).toEqual(rec);
      expect(db.lookupUrl(rec.url)).toEqual({ key: recordKey(rec), metadata: false });
      expect(db.lookupUrl(`${rec.url}.metadata`)).toBeUndefined();
      expect(db.getFile(fileKey('demo', '1.0', 'demo-1.0-py3-none-any.whl', 'other.example'))).toBeUndefined();
      expect([...db.allFiles()]).toEqual([rec]);
    });

    it('range scans and point reads agree for real names of any length', async () => {
      const db = await fresh();
      const projects = [...new Set(REAL_FILES.map(([p]) => p))];
      for (const project of projects) {
        await db.savePage(pageRecord(project), REAL_FILES.filter(([p]) => p === project).map(([p, v, f]) => fileRecord(p, v, f)));
      }
      for (const project of projects) expect(db.projectFiles(project).map((r) => r.filename).sort()).toEqual(realOf(project));
      for (const [p, v, f] of REAL_FILES) {
        expect(db.getFile(fileKey(p, v, f, 'pypi.org'))?.filename).toBe(f);
        expect(db.findFile(p, v, f, ['pypi.org'])?.filename).toBe(f);
        expect(db.lookupUrl(fileRecord(p, v, f).url)?.key).toEqual(fileKey(p, v, f, 'pypi.org'));
      }
      expect([...db.allFiles()]).toHaveLength(REAL_FILES.length);
      // A project whose name is a prefix of another's sees only its own files.
      await db.savePage(pageRecord('x-y'), [fileRecord('x-y', '1.0', 'x_y-1.0-py3-none-any.whl')]);
      expect(db.projectFiles('x').map((r) => r.project)).toEqual(['x']);
      expect(db.projectFiles('nothing')).toEqual([]);
    });

    it('scopes records by origin: one index host never replaces another\'s record of the same file', async () => {
      const db = await fresh();
      const [p, v, f] = REAL_FILES[0] as [string, string, string];
      await db.savePage(pageRecord(p), [fileRecord(p, v, f, { sha256: SHA_A, stored: true, storedSize: 10 })]);
      await db.savePage(pageRecord(p, { origin: 'mirror.example' }), [fileRecord(p, v, f, { origin: 'mirror.example', sha256: SHA_B })]);
      expect(db.getFile(fileKey(p, v, f, 'pypi.org'))).toMatchObject({ sha256: SHA_A, stored: true });
      expect(db.getFile(fileKey(p, v, f, 'mirror.example'))).toMatchObject({ sha256: SHA_B, stored: false });
      expect(db.findFile(p, v, f, ['pypi.org'])?.sha256).toBe(SHA_A);
      expect(db.findFile(p, v, f, ['mirror.example', 'pypi.org'])?.sha256).toBe(SHA_B);
      expect(db.findFile(p, v, f, [])).toBeDefined();
      expect(db.findFile(p, v, `${f}x`, ['pypi.org'])).toBeUndefined();
      expect(db.projectFiles(p)).toHaveLength(2);
      expect(db.getPage('mirror.example', p)?.origin).toBe('mirror.example');
      expect(db.getPage('pypi.org', p)?.origin).toBe('pypi.org');
    });

    it('savePage upserts listed files, keeping what the cache learnt while the digest holds', async () => {
      const db = await fresh();
      const [p, v, f] = REAL_FILES[0] as [string, string, string];
      const learnt = { firstSeen: '2020-01-01T00:00:00.000Z', lastServed: '2026-02-01T00:00:00.000Z', hits: 7, stored: true, storedSize: 10, metadataStored: SHA_M, metadataSize: 3 };
      await db.savePage(pageRecord(p), [fileRecord(p, v, f, { coreMetadata: { hashes: { sha256: SHA_M } }, ...learnt })]);
      await db.savePage(pageRecord(p, { etag: '"f"' }), [fileRecord(p, v, f, { yanked: 'broken', coreMetadata: { hashes: { sha256: SHA_M } } })]);
      expect(db.getFile(fileKey(p, v, f, 'pypi.org'))).toMatchObject({ ...learnt, yanked: 'broken', goneUpstream: false });
      expect(db.getPage('pypi.org', p)?.etag).toBe('"f"');
      const url = fileRecord(p, v, f).url;
      expect(db.lookupUrl(url)).toEqual({ key: fileKey(p, v, f, 'pypi.org'), metadata: false });
      expect(db.lookupUrl(`${url}.metadata`)).toEqual({ key: fileKey(p, v, f, 'pypi.org'), metadata: true });
      // A new digest for the same name: the stored archive no longer stands for it.
      await db.savePage(pageRecord(p), [fileRecord(p, v, f, { sha256: SHA_B })]);
      expect(db.getFile(fileKey(p, v, f, 'pypi.org'))).toMatchObject({ sha256: SHA_B, stored: false, storedSize: null, hits: 7 });
    });

    it('savePage keeps stored files a page no longer lists (gone upstream) and forgets unstored ones', async () => {
      const db = await fresh();
      const [p, v, f] = REAL_FILES[0] as [string, string, string];
      const imported = fileRecord(p, v, 'markupsafe-3.0.3-py3-none-any.whl', { stored: true, storedSize: 10, imported: true });
      await db.putFile(imported);
      await db.savePage(pageRecord(p, { origin: 'mirror.example' }), [fileRecord(p, v, f, { origin: 'mirror.example' })]);
      await db.savePage(pageRecord(p), [fileRecord(p, v, f, { stored: true, storedSize: 10 }), fileRecord(p, v, 'markupsafe-3.0.3.tar.gz')]);
      await db.savePage(pageRecord(p), []);
      const left = db.projectFiles(p).map((r) => [r.origin, r.filename, r.goneUpstream, r.stored]);
      expect(left).toEqual([
        ['mirror.example', f, false, false], // another origin's page says nothing about it
        ['pypi.org', f, true, true],
        ['pypi.org', imported.filename, false, true], // never on a page: not gone, just local
      ]);
      // Listed again: no longer gone.
      await db.savePage(pageRecord(p), [fileRecord(p, v, f)]);
      expect(db.getFile(fileKey(p, v, f, 'pypi.org'))).toMatchObject({ goneUpstream: false, stored: true, storedSize: 10 });
    });

    it('touchPage refreshes a known page only', async () => {
      const db = await fresh();
      await db.savePage(pageRecord('demo'), []);
      await db.touchPage('pypi.org', 'demo', 99, 5);
      await db.touchPage('pypi.org', 'unknown', 99, 5);
      expect(db.getPage('pypi.org', 'demo')).toMatchObject({ fetchedAt: 99, maxAge: 5, etag: '"e"' });
      expect(db.getPage('pypi.org', 'unknown')).toBeUndefined();
    });

    it('updateFile rewrites one record and returns it; an unknown key writes nothing', async () => {
      const db = await fresh();
      const rec = fileRecord('demo', '1.0', 'demo-1.0.tar.gz');
      await db.putFile(rec);
      const updated = await db.updateFile(recordKey(rec), (r) => ({ ...r, stored: true, storedSize: 10 }));
      expect(updated).toMatchObject({ stored: true, storedSize: 10 });
      expect(db.getFile(recordKey(rec))).toEqual(updated);
      const missing = fileKey('demo', '1.0', 'demo-1.0.zip', 'pypi.org');
      expect(await db.updateFile(missing, (r) => r)).toBeUndefined();
      expect(db.getFile(missing)).toBeUndefined();
    });

    it('adds hits up and keeps the last time served; unknown keys are skipped', async () => {
      const db = await fresh();
      const rec = fileRecord('demo', '1.0', 'demo-1.0.tar.gz', { hits: 2 });
      await db.putFile(rec);
      await db.addHits([
        { key: recordKey(rec), count: 3, last: '2026-03-01T00:00:00.000Z' },
        { key: fileKey('demo', '9', 'demo-9.tar.gz', 'pypi.org'), count: 1, last: '2026-03-01T00:00:00.000Z' },
      ]);
      await db.addHits([{ key: recordKey(rec), count: 1, last: '2026-03-02T00:00:00.000Z' }]);
      expect(db.getFile(recordKey(rec))).toMatchObject({ hits: 6, lastServed: '2026-03-02T00:00:00.000Z' });
      expect([...db.allFiles()]).toHaveLength(1);
    });

    it('lists the projects with a stored file, sorted', async () => {
      const db = await fresh();
      await db.putFile(fileRecord('zeta', '1.0', 'zeta-1.0.tar.gz', { stored: true, storedSize: 10 }));
      await db.putFile(fileRecord('alpha', '1.0', 'alpha-1.0.tar.gz', { stored: true, storedSize: 10 }));
      await db.putFile(fileRecord('beta', '1.0', 'beta-1.0.tar.gz'));
      expect(db.storedProjects()).toEqual(['alpha', 'zeta']);
    });

    it('records pin sets by name: replaced whole, listed in name order, removed once', async () => {
      const db = await fresh();
      const [p, v, f] = REAL_FILES[0] as [string, string, string];
      const pinned = { key: fileKey(p, v, f, 'pypi.org'), sha256: SHA_A, size: 10, metadata: SHA_M, metadataSize: 3 };
      const dir: PinSet = { name: '/home/me/project/packages', created: '2026-01-01T00:00:00.000Z', updated: '2026-01-01T00:00:00.000Z', files: [pinned] };
      const spec: PinSet = { name: 'spec:demo==1.0', created: '2026-01-02T00:00:00.000Z', updated: '2026-01-02T00:00:00.000Z', files: [] };
      expect(db.getPinSet(dir.name)).toBeUndefined();
      expect([...db.pinSets()]).toEqual([]);
      await db.putPinSet(spec);
      await db.putPinSet(dir);
      expect(db.getPinSet(dir.name)).toEqual(dir);
      expect([...db.pinSets()].map((s) => s.name)).toEqual([dir.name, spec.name]);
      const replaced = { ...dir, updated: '2026-02-01T00:00:00.000Z', files: [{ ...pinned, sha256: SHA_B, metadata: null, metadataSize: null }] };
      await db.putPinSet(replaced);
      expect(db.getPinSet(dir.name)).toEqual(replaced);
      expect(await db.removePinSet(dir.name)).toBe(true);
      expect(await db.removePinSet(dir.name)).toBe(false);
      expect([...db.pinSets()]).toEqual([spec]);
      // Pins are their own records: files and settings are untouched by them.
      expect([...db.allFiles()]).toEqual([]);
    });

    it('keeps pin sets whose names are long paths or any text', async () => {
      const db = await fresh();
      const names = [`/${'deep/'.repeat(60)}packages`, 'file:/tmp/requirements.txt', 'spec:demo[extra]>=1.0; python_version >= "3.9"', '/ünïcode dir/p'];
      for (const name of names) await db.putPinSet({ name, created: 'c', updated: 'u', files: [] });
      for (const name of names) expect(db.getPinSet(name)?.name).toBe(name);
      expect([...db.pinSets()].map((s) => s.name).sort()).toEqual([...names].sort());
    });

    it('keeps settings', async () => {
      const db = await fresh();
      expect(db.getSetting('offline')).toBeUndefined();
      await db.setSetting('offline', true);
      await db.setSetting('other', { a: [1] });
      expect(db.getSetting<boolean>('offline')).toBe(true);
      expect(db.getSetting('other')).toEqual({ a: [1] });
    });
  });
}
