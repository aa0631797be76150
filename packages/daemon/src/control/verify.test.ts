import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { writeAll } from '../store/blob-store.contract.js';
import { recordKey } from '../store/catalog.js';
import { fileRecord } from '../store/catalog.contract.js';
import { FsBlobStore } from '../store/fs-blob-store.js';
import { LmdbCatalog } from '../store/lmdb-catalog.js';
import { Store } from '../store/store.js';
import { verifyStore } from './verify.js';

const dir = mkdtempSync(join(tmpdir(), 'pc-verify-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const open: LmdbCatalog[] = [];
afterEach(async () => {
  for (const catalog of open.splice(0)) await catalog.close();
});
let homes = 0;

const digest = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

async function setup(): Promise<{ catalog: LmdbCatalog; blobs: FsBlobStore; store: Store; changed: string[] }> {
  const home = join(dir, `home-${homes++}`);
  const catalog = new LmdbCatalog(join(home, 'catalog'));
  await catalog.migrate();
  open.push(catalog);
  const blobs = new FsBlobStore(join(home, 'blobs'), join(home, 'tmp'));
  await blobs.init();
  const changed: string[] = [];
  return { catalog, blobs, store: new Store({ catalog, blobs, onListingChanged: (origin, project) => changed.push(`${origin} ${project}`) }), changed };
}

async function put(blobs: FsBlobStore, data: Buffer): Promise<string> {
  const writer = blobs.createWriter();
  await writeAll(writer, data);
  return (await writer.commit(null)).sha256;
}

describe('verifyStore', () => {
  it('forgets damaged and missing blobs, keeps sound ones, and gives a sound blob the size its record lacked', async () => {
    const { catalog, blobs, store, changed } = await setup();
    const sound = Buffer.from('a sound archive');
    const meta = Buffer.from('Metadata-Version: 2.1\n');
    const soundSha = await put(blobs, sound);
    const metaSha = await put(blobs, meta);
    const damagedSha = await put(blobs, Buffer.from('to be damaged'));
    const missingSha = digest(Buffer.from('never written'));
    const recs = [
      fileRecord('demo', '1.0', 'demo-1.0-py3-none-any.whl', { sha256: soundSha, stored: true, storedSize: null, size: null, metadataStored: metaSha, metadataSize: null }),
      fileRecord('demo', '1.0', 'demo-1.0.tar.gz', { sha256: damagedSha, stored: true, storedSize: 13 }),
      fileRecord('gone', '1.0', 'gone-1.0.tar.gz', { sha256: missingSha, stored: true, storedSize: 5 }),
    ];
    for (const r of recs) await catalog.putFile(r);
    const path = blobs.path(damagedSha);
    chmodSync(path, 0o644);
    writeFileSync(path, 'to be DAMAGED');

    const result = await verifyStore({ catalog, blobs, store }, () => undefined);
    expect(result.checked).toBe(4);
    expect(result.errors).toEqual([]);
    expect(result.damaged.map((d) => [d.filename, d.reason])).toEqual([
      ['demo-1.0.tar.gz', `hashes to ${digest(Buffer.from('to be DAMAGED'))}`],
      ['gone-1.0.tar.gz', 'missing'],
    ]);
    expect(await blobs.size(damagedSha)).toBeNull();
    const [first, second, third] = recs.map((r) => catalog.getFile(recordKey(r)));
    expect(first).toMatchObject({ stored: true, storedSize: sound.length, metadataStored: metaSha, metadataSize: meta.length });
    expect(second).toMatchObject({ stored: false, storedSize: null });
    expect(third).toMatchObject({ stored: false, storedSize: null });
    expect(changed).toContain('pypi.org gone');

    const again = await verifyStore({ catalog, blobs, store }, () => undefined);
    expect([again.checked, again.damaged, again.errors]).toEqual([2, [], []]);
  });
});
