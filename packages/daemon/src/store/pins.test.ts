import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fileKey, recordKey } from './catalog.js';
import { fileRecord, SHA_A, SHA_B } from './catalog.contract.js';
import { LmdbCatalog } from './lmdb-catalog.js';
import { pinnedFile, Pins } from './pins.js';

const dir = mkdtempSync(join(tmpdir(), 'pc-pins-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let dbs = 0;

async function catalog(): Promise<LmdbCatalog> {
  const db = new LmdbCatalog(join(dir, `db-${dbs++}`));
  await db.migrate();
  return db;
}

const SHA_C = 'c'.repeat(64);
const SHA_D = 'd'.repeat(64);
const file = (sha256: string, size: number, metadata: string | null = null, metadataSize: number | null = null) => ({
  key: fileKey('demo', '1.0', `demo-1.0-${sha256.slice(0, 1)}.whl`, 'pypi.org'),
  sha256,
  size,
  metadata,
  metadataSize,
});

describe('Pins', () => {
  it('answers isPinned and pinnedBytes from memory, counting a blob held by two sets once', async () => {
    const db = await catalog();
    const pins = Pins.load(db);
    expect(pins.isPinned(SHA_A)).toBe(false);
    await pins.set('/p/one', [file(SHA_A, 100, SHA_C, 5)]);
    await pins.set('spec:demo', [file(SHA_A, 100), file(SHA_B, 50)]);
    expect([SHA_A, SHA_B, SHA_C, SHA_D].map((s) => pins.isPinned(s))).toEqual([true, true, true, false]);
    expect(pins.pinnedBytes()).toBe(155);
    expect(pins.list()).toMatchObject([
      { name: '/p/one', files: 1, bytes: 105 },
      { name: 'spec:demo', files: 2, bytes: 150 },
    ]);
    // Unpinning one set keeps what the other still holds.
    expect((await pins.remove('/p/one'))?.name).toBe('/p/one');
    expect(await pins.remove('/p/one')).toBeUndefined();
    expect([SHA_A, SHA_B, SHA_C].map((s) => pins.isPinned(s))).toEqual([true, true, false]);
    expect(pins.pinnedBytes()).toBe(150);
    await db.close();
  });

  it('replaces a set whole (keeping when it was created) and adds to one without duplicates', async () => {
    const db = await catalog();
    const pins = Pins.load(db);
    const first = await pins.set('/p', [file(SHA_A, 1), file(SHA_B, 2)]);
    const second = await pins.set('/p', [file(SHA_C, 3)]);
    expect(second.created).toBe(first.created);
    expect([SHA_A, SHA_B, SHA_C].map((s) => pins.isPinned(s))).toEqual([false, false, true]);
    const added = await pins.add('/p', [file(SHA_C, 3), file(SHA_D, 4)]);
    expect(added.files.map((f) => f.sha256)).toEqual([SHA_C, SHA_D]);
    expect((await pins.add('/new', [file(SHA_A, 1)])).files).toHaveLength(1);
    expect(pins.pinnedBytes()).toBe(8);
    await db.close();
  });

  it('loads what the catalog recorded, so pins outlive a restart', async () => {
    const path = join(dir, `db-${dbs++}`);
    const db = new LmdbCatalog(path);
    await db.migrate();
    await Pins.load(db).set('file:/p/requirements.txt', [file(SHA_A, 10, SHA_C, 2)]);
    await db.close();
    const again = new LmdbCatalog(path);
    const pins = Pins.load(again);
    expect(pins.isPinned(SHA_A) && pins.isPinned(SHA_C)).toBe(true);
    expect(pins.pinnedBytes()).toBe(12);
    expect(pins.get('file:/p/requirements.txt')?.files).toHaveLength(1);
    await again.close();
  });

  it('applies concurrent changes in order', async () => {
    const db = await catalog();
    const pins = Pins.load(db);
    await Promise.all([pins.set('/p', [file(SHA_A, 1)]), pins.add('/p', [file(SHA_B, 1)]), pins.remove('/p'), pins.add('/p', [file(SHA_C, 1)])]);
    expect(pins.get('/p')?.files.map((f) => f.sha256)).toEqual([SHA_C]);
    expect([SHA_A, SHA_B, SHA_C].map((s) => pins.isPinned(s))).toEqual([false, false, true]);
    await db.close();
  });

  it('pins a record by its archive and its .metadata, stored or promised by the index', () => {
    const listed = fileRecord('demo', '1.0', 'demo-1.0-py3-none-any.whl', { size: 7, coreMetadata: { hashes: { sha256: SHA_C } } });
    expect(pinnedFile(listed, recordKey(listed))).toEqual({ key: recordKey(listed), sha256: SHA_A, size: 7, metadata: SHA_C, metadataSize: null });
    const stored = { ...listed, stored: true, storedSize: 9, metadataStored: SHA_D, metadataSize: 4 };
    expect(pinnedFile(stored, recordKey(stored))).toMatchObject({ size: 9, metadata: SHA_D, metadataSize: 4 });
    expect(pinnedFile({ ...listed, sha256: null }, recordKey(listed))).toBeNull();
  });
});
