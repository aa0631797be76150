import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { chmod, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { writeAll } from './blob-store.contract.js';
import { recordKey, type FileRecord } from './catalog.js';
import { fileRecord, pageRecord } from './catalog.contract.js';
import { FsBlobStore } from './fs-blob-store.js';
import { LmdbCatalog } from './lmdb-catalog.js';
import { Store } from './store.js';

const dir = mkdtempSync(join(tmpdir(), 'pc-gc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let homes = 0;
const open: LmdbCatalog[] = [];
afterEach(async () => {
  for (const catalog of open.splice(0)) await catalog.close();
});

const digest = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const ARCHIVE = Buffer.from('the archive bytes');
const METADATA = Buffer.from('Metadata-Version: 2.1\nName: demo\n');
const ORPHAN = Buffer.from('bytes no record holds any more');
const UNSTORED = Buffer.from('a listed archive the record says is not stored');

async function setup(): Promise<{ store: Store; catalog: LmdbCatalog; blobs: FsBlobStore; home: string }> {
  const home = join(dir, `home-${homes++}`);
  const catalog = new LmdbCatalog(join(home, 'catalog'));
  await catalog.migrate();
  open.push(catalog);
  const blobs = new FsBlobStore(join(home, 'blobs'), join(home, 'tmp'));
  await blobs.init();
  return { store: new Store({ catalog, blobs, onListingChanged: () => undefined }), catalog, blobs, home };
}

async function put(blobs: FsBlobStore, data: Buffer): Promise<string> {
  const writer = blobs.createWriter();
  await writeAll(writer, data);
  return (await writer.commit(digest(data))).sha256;
}

/** A stored wheel with its stored .metadata, a listed archive not stored, and an orphan blob. */
async function populate(catalog: LmdbCatalog, blobs: FsBlobStore): Promise<{ held: FileRecord; unheld: FileRecord }> {
  const held = fileRecord('demo', '1.0', 'demo-1.0-py3-none-any.whl', {
    sha256: await put(blobs, ARCHIVE),
    size: ARCHIVE.length,
    stored: true,
    storedSize: ARCHIVE.length,
    coreMetadata: { hashes: { sha256: digest(METADATA) } },
    metadataStored: await put(blobs, METADATA),
    metadataSize: METADATA.length,
  });
  const unheld = fileRecord('demo', '1.0', 'demo-1.0.tar.gz', { sha256: await put(blobs, UNSTORED), size: UNSTORED.length });
  await catalog.savePage(pageRecord('demo'), [held, unheld]);
  await put(blobs, ORPHAN);
  return { held, unheld };
}

describe('Store.collectGarbage', () => {
  it('removes blobs no record holds and temp files left by a crash; keeps held blobs and writes in flight', async () => {
    const { store, catalog, blobs, home } = await setup();
    const { held } = await populate(catalog, blobs);
    await writeFile(join(home, 'tmp', '1700000000000-abcdef.part'), 'half of a download a crash cut');
    const inFlight = blobs.createWriter();
    await writeAll(inFlight, Buffer.from('a download still running'));

    const result = await store.collectGarbage({ keepRecentMs: 0, now: () => Date.now() + 1000 });
    expect(result).toEqual({
      blobs: { count: 2, bytes: ORPHAN.length + UNSTORED.length },
      temp: { count: 1, bytes: 'half of a download a crash cut'.length },
      keptRecent: 0,
    });
    expect(await blobs.size(digest(ORPHAN))).toBeNull();
    expect(await blobs.size(digest(UNSTORED))).toBeNull();
    expect(await blobs.size(digest(ARCHIVE))).toBe(ARCHIVE.length);
    expect(await blobs.size(digest(METADATA))).toBe(METADATA.length);
    expect(catalog.getFile(recordKey(held))).toMatchObject({ stored: true, metadataStored: digest(METADATA) });
    expect(await readdir(join(home, 'tmp'))).toEqual([basename(inFlight.tmpPath)]);
    // The write in flight goes on and publishes.
    expect((await inFlight.commit(null)).size).toBe('a download still running'.length);

    // No record took the blob it published: the next collection frees it, and nothing else.
    const again = await store.collectGarbage({ keepRecentMs: 0, now: () => Date.now() + 1000 });
    expect(again).toEqual({ blobs: { count: 1, bytes: 'a download still running'.length }, temp: { count: 0, bytes: 0 }, keptRecent: 0 });
    expect(await blobs.size(digest(ARCHIVE))).toBe(ARCHIVE.length);
  });

  it('keeps orphans and temp files changed within keepRecentMs: a blob just published is recorded a moment later', async () => {
    const { store, catalog, blobs, home } = await setup();
    await populate(catalog, blobs);
    await writeFile(join(home, 'tmp', 'left.part'), 'x');
    const result = await store.collectGarbage({ keepRecentMs: 60_000 });
    expect(result).toEqual({ blobs: { count: 0, bytes: 0 }, temp: { count: 0, bytes: 0 }, keptRecent: 2 });
    expect(await blobs.size(digest(ORPHAN))).toBe(ORPHAN.length);
    expect(existsSync(join(home, 'tmp', 'left.part'))).toBe(true);
    // Ten minutes on, they are a crash's leftovers.
    const later = await store.collectGarbage({ keepRecentMs: 60_000, now: () => Date.now() + 600_000 });
    expect(later).toEqual({ blobs: { count: 2, bytes: ORPHAN.length + UNSTORED.length }, temp: { count: 1, bytes: 1 }, keptRecent: 0 });
  });

  it('keeps a blob shared by a stored record of another project', async () => {
    const { store, catalog, blobs } = await setup();
    const sha = await put(blobs, ARCHIVE);
    await catalog.putFile(fileRecord('other', '2.0', 'other-2.0.tar.gz', { sha256: sha, stored: true, storedSize: ARCHIVE.length, imported: true }));
    expect((await store.collectGarbage({ keepRecentMs: 0, now: () => Date.now() + 1000 })).blobs.count).toBe(0);
    expect(await blobs.size(sha)).toBe(ARCHIVE.length);
  });
});

describe('Store.forgetMissing', () => {
  it('marks not stored the records whose blob is missing or of the wrong size, and removes the wrong one', async () => {
    const { store, catalog, blobs } = await setup();
    const { held } = await populate(catalog, blobs);
    const sound = fileRecord('sound', '1.0', 'sound-1.0.tar.gz', { sha256: await put(blobs, Buffer.from('sound')), stored: true, storedSize: 5 });
    // A record from before sizes were kept: present is all that can be checked.
    const sizeless = fileRecord('old', '1.0', 'old-1.0.tar.gz', { sha256: await put(blobs, Buffer.from('old bytes')), stored: true, storedSize: null, size: null });
    await catalog.putFile(sound);
    await catalog.putFile(sizeless);
    // The archive's blob lost; the metadata blob cut short (replaced by a shorter file under its name).
    await blobs.remove(digest(ARCHIVE));
    const metaPath = blobs.path(digest(METADATA));
    await chmod(metaPath, 0o644);
    await writeFile(metaPath, METADATA.subarray(0, 5));

    expect(await store.forgetMissing()).toBe(1);
    expect(catalog.getFile(recordKey(held))).toMatchObject({ stored: false, storedSize: null, metadataStored: null, metadataSize: null });
    expect(await blobs.size(digest(METADATA))).toBeNull();
    expect(catalog.getFile(recordKey(sound))).toMatchObject({ stored: true, storedSize: 5 });
    expect(catalog.getFile(recordKey(sizeless))).toMatchObject({ stored: true });
    // Every record now points at a blob that is there.
    expect(await store.forgetMissing()).toBe(0);
  });
});
