import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

  it('empties the temp directory at start: temp files of a crashed run are dropped', async () => {
    const home = join(dir, `home-${stores++}`);
    await mkdir(join(home, 'tmp'), { recursive: true });
    await writeFile(join(home, 'tmp', 'left-over.part'), 'half a download');
    await new FsBlobStore(join(home, 'blobs'), join(home, 'tmp')).init();
    expect(existsSync(join(home, 'tmp', 'left-over.part'))).toBe(false);
    expect(existsSync(join(home, 'tmp'))).toBe(true);
  });
});
