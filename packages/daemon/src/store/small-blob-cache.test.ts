import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SmallBlobCache } from './small-blob-cache.js';

const dir = mkdtempSync(join(tmpdir(), 'pc-small-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes a blob of `size` bytes of `fill` and returns its digest and path. */
function blob(fill: string, size: number): { sha: string; path: string } {
  const data = Buffer.alloc(size, fill.charCodeAt(0));
  const sha = createHash('sha256').update(data).digest('hex');
  const path = join(dir, sha);
  writeFileSync(path, data);
  return { sha, path };
}

describe('SmallBlobCache', () => {
  it('keeps small blobs, refuses large ones, and asks the file when the size is unknown', async () => {
    const cache = new SmallBlobCache(100, 1000);
    const a = blob('a', 50);
    expect((await cache.get(a.sha, a.path, 50))?.length).toBe(50);
    rmSync(a.path);
    expect((await cache.get(a.sha, a.path, 50))?.length).toBe(50); // from memory now
    const b = blob('b', 200);
    expect(await cache.get(b.sha, b.path, 200)).toBeNull();
    expect(await cache.get(b.sha, b.path, null)).toBeNull();
    const d = blob('d', 10);
    expect((await cache.get(d.sha, d.path, null))?.length).toBe(10);
    await expect(cache.get('e'.repeat(64), join(dir, 'missing'), null)).rejects.toThrow();
  });

  it('refuses a blob whose bytes do not match its digest', async () => {
    const cache = new SmallBlobCache(100, 1000);
    const f = blob('f', 20);
    writeFileSync(f.path, Buffer.alloc(20, 'g'.charCodeAt(0)));
    await expect(cache.get(f.sha, f.path, 20)).rejects.toMatchObject({ code: 'E_HASH_MISMATCH' });
  });

  it('refuses a blob whose size on disk is not the size the index recorded', async () => {
    const cache = new SmallBlobCache(100, 1000);
    const h = blob('h', 30);
    writeFileSync(h.path, Buffer.alloc(12, 'h'.charCodeAt(0)));
    await expect(cache.get(h.sha, h.path, 30)).rejects.toMatchObject({ code: 'E_HASH_MISMATCH', message: expect.stringContaining('12 bytes') });
  });

  it('evicts the least recently used blobs past its budget', async () => {
    const cache = new SmallBlobCache(100, 150);
    const [x, y, z] = [blob('x', 60), blob('y', 60), blob('z', 60)];
    await cache.get(x.sha, x.path, 60);
    await cache.get(y.sha, y.path, 60);
    await cache.get(x.sha, x.path, 60); // x is now the most recent
    await cache.get(z.sha, z.path, 60); // over budget: y goes
    rmSync(x.path);
    rmSync(y.path);
    expect((await cache.get(x.sha, x.path, 60))?.length).toBe(60);
    await expect(cache.get(y.sha, y.path, 60)).rejects.toThrow();
  });
});
