import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { writeAll } from './blob-store.contract.js';
import { fileKey, recordKey, type FileRecord } from './catalog.js';
import { fileRecord, pageRecord } from './catalog.contract.js';
import { FsBlobStore } from './fs-blob-store.js';
import { LmdbCatalog } from './lmdb-catalog.js';
import { Store } from './store.js';

const dir = mkdtempSync(join(tmpdir(), 'pc-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let homes = 0;
const open: LmdbCatalog[] = [];
afterEach(async () => {
  for (const catalog of open.splice(0)) await catalog.close();
});

const ARCHIVE = Buffer.from('the archive bytes');
const METADATA = Buffer.from('Metadata-Version: 2.1\nName: demo\n');
const digest = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

async function setup(): Promise<{ store: Store; catalog: LmdbCatalog; blobs: FsBlobStore; changed: string[] }> {
  const home = join(dir, `home-${homes++}`);
  const catalog = new LmdbCatalog(join(home, 'catalog'));
  await catalog.migrate();
  open.push(catalog);
  const blobs = new FsBlobStore(join(home, 'blobs'), join(home, 'tmp'));
  await blobs.init();
  const changed: string[] = [];
  const store = new Store({ catalog, blobs, onListingChanged: (origin, project) => changed.push(`${origin} ${project}`) });
  return { store, catalog, blobs, changed };
}

async function put(blobs: FsBlobStore, data: Buffer): Promise<string> {
  const writer = blobs.createWriter();
  await writeAll(writer, data);
  return (await writer.commit(digest(data))).sha256;
}

/** A wheel listed with its PEP 658 metadata. */
const wheel = (filename: string, extra: Partial<FileRecord> = {}): FileRecord =>
  fileRecord('demo', '1.0', filename, { sha256: digest(ARCHIVE), size: null, coreMetadata: { hashes: { sha256: digest(METADATA) } }, ...extra });

describe('Store.recordStored', () => {
  it('marks an archive stored with its verified size, which also replaces the listed size', async () => {
    const { store, catalog, changed } = await setup();
    const rec = wheel('demo-1.0-py3-none-any.whl');
    await catalog.savePage(pageRecord('demo'), [rec]);
    const out = await store.recordStored(recordKey(rec), { metadata: false }, digest(ARCHIVE), ARCHIVE.length);
    expect(out).toMatchObject({ stored: true, storedSize: ARCHIVE.length, size: ARCHIVE.length, metadataStored: null });
    expect(catalog.getFile(recordKey(rec))).toEqual(out);
    expect(changed).toEqual(['pypi.org demo']);
  });

  it('records a .metadata blob and its size', async () => {
    const { store, catalog } = await setup();
    const rec = wheel('demo-1.0-py3-none-any.whl');
    await catalog.savePage(pageRecord('demo'), [rec]);
    await store.recordStored(recordKey(rec), { metadata: true }, digest(METADATA), METADATA.length);
    expect(catalog.getFile(recordKey(rec))).toMatchObject({ stored: false, storedSize: null, metadataStored: digest(METADATA), metadataSize: METADATA.length });
  });

  it('leaves an archive alone whose record now expects another digest', async () => {
    const { store, catalog } = await setup();
    const rec = wheel('demo-1.0-py3-none-any.whl', { sha256: 'f'.repeat(64) });
    await catalog.savePage(pageRecord('demo'), [rec]);
    await store.recordStored(recordKey(rec), { metadata: false }, digest(ARCHIVE), ARCHIVE.length);
    expect(catalog.getFile(recordKey(rec))).toEqual(rec);
  });

  it('returns undefined for an unknown record', async () => {
    const { store } = await setup();
    expect(await store.recordStored(fileKey('demo', '1.0', 'nope.whl', 'pypi.org'), { metadata: false }, digest(ARCHIVE), 1)).toBeUndefined();
  });
});

describe('Store.forgetDamaged', () => {
  it('removes the blob and marks every record of the project holding it not stored, once per listing', async () => {
    const { store, catalog, blobs, changed } = await setup();
    const archiveSha = await put(blobs, ARCHIVE);
    const metaSha = await put(blobs, METADATA);
    const stored = { stored: true, storedSize: ARCHIVE.length, metadataStored: metaSha, metadataSize: METADATA.length };
    // One archive listed by two indexes; the wheels of a release share one METADATA.
    const a = wheel('demo-1.0-py3-none-any.whl', stored);
    const mirrored = wheel('demo-1.0-py3-none-any.whl', { ...stored, origin: 'mirror.example' });
    const sibling = wheel('demo-1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl', { sha256: 'e'.repeat(64), metadataStored: metaSha, metadataSize: METADATA.length });
    const elsewhere = fileRecord('other', '1.0', 'other-1.0.tar.gz', { sha256: archiveSha, stored: true, storedSize: ARCHIVE.length });
    await catalog.savePage(pageRecord('demo'), [a, sibling]);
    await catalog.savePage(pageRecord('demo', { origin: 'mirror.example' }), [mirrored]);
    await catalog.putFile(elsewhere);

    const forgotten = await store.forgetDamaged(recordKey(a), { metadata: true });
    expect(await blobs.size(metaSha)).toBeNull();
    expect(await blobs.size(archiveSha)).toBe(ARCHIVE.length);
    expect(forgotten.map((r) => `${r.origin} ${r.filename}`).sort()).toEqual([`mirror.example ${a.filename}`, `pypi.org ${a.filename}`, `pypi.org ${sibling.filename}`].sort());
    for (const rec of [a, mirrored, sibling]) {
      // The archive stays stored; only the metadata blob is gone.
      expect(catalog.getFile(recordKey(rec))).toMatchObject({ metadataStored: null, metadataSize: null, stored: rec.stored, storedSize: rec.storedSize });
    }
    expect(changed.sort()).toEqual(['mirror.example demo', 'pypi.org demo']);

    changed.length = 0;
    await store.forgetDamaged(recordKey(mirrored), { metadata: false });
    expect(await blobs.size(archiveSha)).toBeNull();
    expect(catalog.getFile(recordKey(a))).toMatchObject({ stored: false, storedSize: null });
    expect(catalog.getFile(recordKey(mirrored))).toMatchObject({ stored: false, storedSize: null });
    // Another project's record of the same bytes is not looked for: its next hit finds the blob missing.
    expect(catalog.getFile(recordKey(elsewhere))).toMatchObject({ stored: true });
    expect(changed.sort()).toEqual(['mirror.example demo', 'pypi.org demo']);
  });

  it('does nothing for a record that holds no such blob, so calling it twice is harmless', async () => {
    const { store, catalog, blobs, changed } = await setup();
    const sha = await put(blobs, ARCHIVE);
    const rec = wheel('demo-1.0-py3-none-any.whl', { stored: true, storedSize: ARCHIVE.length });
    await catalog.savePage(pageRecord('demo'), [rec]);
    expect(await store.forgetDamaged(recordKey(rec), { metadata: true })).toEqual([]);
    expect(await blobs.size(sha)).toBe(ARCHIVE.length);
    expect(await store.forgetDamaged(recordKey(rec), { metadata: false })).toHaveLength(1);
    expect(await store.forgetDamaged(recordKey(rec), { metadata: false })).toEqual([]);
    expect(await store.forgetDamaged(fileKey('demo', '1.0', 'nope.whl', 'pypi.org'), { metadata: false })).toEqual([]);
    expect(changed).toEqual(['pypi.org demo']);
  });
});
