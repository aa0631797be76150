import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeBlobStoreContract, writeAll } from './blob-store.contract.js';
import { FsBlobStore } from './fs-blob-store.js';

const dir = mkdtempSync(join(tmpdir(), 'pc-blobs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let stores = 0;

async function fresh(): Promise<FsBlobStore> {
  const home = join(dir, `home-${stores++}`);
  const store = new FsBlobStore(join(home, 'blobs'), join(home, 'tmp'));
  await store.init();
  return store;
}

describeBlobStoreContract('FsBlobStore', fresh);

describe('FsBlobStore', () => {
  it('keeps blobs read-only under blobs/<first two hex digits>/<sha256>', async () => {
    const store = await fresh();
    const data = Buffer.from('exports hardlink this');
    const digest = createHash('sha256').update(data).digest('hex');
    const writer = store.createWriter();
    await writeAll(writer, data);
    await writer.commit(digest);
    const path = store.path(digest);
    expect(path.endsWith(join('blobs', digest.slice(0, 2), digest))).toBe(true);
    expect((await stat(path)).mode & 0o777).toBe(0o444);
  });

  it('keeps temp files a crashed run left until swept, then sweeps those changed before the cut-off', async () => {
    const home = join(dir, `home-${stores++}`);
    await mkdir(join(home, 'tmp', 'a-dir'), { recursive: true });
    await writeFile(join(home, 'tmp', 'left-over.part'), 'half a download');
    await writeFile(join(home, 'tmp', 'a-dir', 'inner'), '12345');
    const store = new FsBlobStore(join(home, 'blobs'), join(home, 'tmp'));
    await store.init();
    expect(existsSync(join(home, 'tmp', 'left-over.part'))).toBe(true);
    // Changed after the cut-off: too recent to be a crash's.
    expect(await store.sweepTemp(Date.now() - 60_000)).toEqual({ count: 0, bytes: 0 });
    const writer = store.createWriter();
    await writeAll(writer, Buffer.from('in flight'));
    expect(await store.sweepTemp(Date.now() + 60_000)).toEqual({ count: 2, bytes: 'half a download'.length + 5 });
    expect(await readdir(join(home, 'tmp'))).toEqual([basename(writer.tmpPath)]);
    await writer.abort();
  });

  it('lists only what it names: stray files in blobs/ are neither listed nor removed', async () => {
    const store = await fresh();
    const root = join(store.path('0'.repeat(64)), '..', '..');
    await mkdir(join(root, 'zz'), { recursive: true });
    await mkdir(join(root, 'ab'), { recursive: true });
    await writeFile(join(root, 'zz', 'note'), 'x');
    await writeFile(join(root, 'ab', `cd${'0'.repeat(62)}`), 'wrong shard');
    await writeFile(join(root, 'README'), 'x');
    const listed = [];
    for await (const b of store.list()) listed.push(b);
    expect(listed).toEqual([]);
  });
});
