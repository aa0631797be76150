import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SmallBlobCache } from './small-blob-cache.js';

const dir = mkdtempSync(join(tmpdir(), 'pc-small-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function blob(name: string, size: number): string {
  const p = join(dir, name);
  writeFileSync(p, Buffer.alloc(size, name.charCodeAt(0)));
  return p;
}

describe('SmallBlobCache', () => {
  it('keeps small blobs, refuses large ones, and asks the file when the size is unknown', async () => {
    const cache = new SmallBlobCache(100, 1000);
    const a = blob('a', 50);
    expect((await cache.get('a', a, 50))?.length).toBe(50);
    rmSync(a);
    expect((await cache.get('a', a, 50))?.length).toBe(50); // from memory now
    expect(await cache.get('b', blob('b', 200), 200)).toBeNull();
    expect(await cache.get('c', blob('c', 200), null)).toBeNull();
    expect((await cache.get('d', blob('d', 10), null))?.length).toBe(10);
    await expect(cache.get('e', join(dir, 'missing'), null)).rejects.toThrow();
  });

  it('evicts the least recently used blobs past its budget', async () => {
    const cache = new SmallBlobCache(100, 150);
    const [x, y, z] = [blob('x', 60), blob('y', 60), blob('z', 60)];
    await cache.get('x', x, 60);
    await cache.get('y', y, 60);
    await cache.get('x', x, 60); // x is now the most recent
    await cache.get('z', z, 60); // over budget: y goes
    rmSync(x);
    rmSync(y);
    expect((await cache.get('x', x, 60))?.length).toBe(60);
    await expect(cache.get('y', y, 60)).rejects.toThrow();
  });
});
