import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { isPipcacheError } from '@pipcache/shared';
import type { BlobStore, BlobWriter, ListedBlob } from './blob-store.js';

/**
 * What every BlobStore must do, run against each implementation by its own
 * test file: `describeBlobStoreContract('FsBlobStore', async () => ...)`.
 * `make` returns a new, empty store ready for use.
 */

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** Writes `data` in chunks, waiting for drains as a download does. */
export async function writeAll(writer: BlobWriter, data: Buffer, chunk = 64 * 1024): Promise<void> {
  for (let at = 0; at < data.length; at += chunk) {
    if (!writer.write(data.subarray(at, at + chunk), () => undefined)) await writer.waitDrain();
  }
}

async function listAll(store: BlobStore): Promise<ListedBlob[]> {
  const out: ListedBlob[] = [];
  for await (const blob of store.list()) out.push(blob);
  return out;
}

export function describeBlobStoreContract(name: string, make: () => Promise<BlobStore>): void {
  describe(`BlobStore contract: ${name}`, () => {
    it('publishes a written blob under its digest once it matches', async () => {
      const store = await make();
      const data = randomBytes(300_000);
      const digest = sha256(data);
      expect(await store.size(digest)).toBeNull();
      const writer = store.createWriter();
      await writeAll(writer, data);
      expect(writer.bytes).toBe(data.length);
      // Nothing under the digest's name before the commit.
      expect(await store.size(digest)).toBeNull();
      expect(await writer.commit(digest)).toEqual({ sha256: digest, size: data.length });
      expect(await store.size(digest)).toBe(data.length);
      expect((await readFile(store.path(digest))).equals(data)).toBe(true);
      expect(existsSync(writer.tmpPath)).toBe(false);
    });

    it('writev writes the chunks in order, hashed and counted as single writes are', async () => {
      const store = await make();
      const data = randomBytes(1_500_000);
      const digest = sha256(data);
      const writer = store.createWriter();
      const flushed: number[] = [];
      // Uneven chunks, in batches of several, some of one chunk.
      for (let at = 0, n = 1; at < data.length; n = (n % 5) + 1) {
        const chunks: Buffer[] = [];
        for (let i = 0; i < n && at < data.length; i++) {
          const size = 1000 + ((at * 7) % 60_000);
          chunks.push(data.subarray(at, at + size));
          at += size;
        }
        if (!writer.writev(chunks, (f) => flushed.push(f))) await writer.waitDrain();
      }
      expect(writer.bytes).toBe(data.length);
      expect(await writer.verify(digest)).toEqual({ sha256: digest, size: data.length });
      expect(flushed.at(-1)).toBe(data.length);
      expect(flushed).toEqual([...flushed].sort((a, b) => a - b));
      expect((await readFile(writer.tmpPath)).equals(data)).toBe(true);
      await writer.abort();
    });

    it('verify checks every byte without publishing; publish then puts the blob in place', async () => {
      const store = await make();
      const data = randomBytes(2_000_000);
      const digest = sha256(data);
      const writer = store.createWriter();
      await writeAll(writer, data);
      expect(await writer.verify(digest)).toEqual({ sha256: digest, size: data.length });
      // Verified: the temp file holds exactly the bytes (readers may take all of them), nothing is published.
      expect((await readFile(writer.tmpPath)).equals(data)).toBe(true);
      expect(await store.size(digest)).toBeNull();
      await writer.publish();
      expect(await store.size(digest)).toBe(data.length);
      expect(existsSync(writer.tmpPath)).toBe(false);
      // A wrong digest at verify leaves nothing, and nothing can be published.
      const bad = store.createWriter();
      await writeAll(bad, data);
      expect(isPipcacheError(await bad.verify(sha256(Buffer.from('other'))).catch((e: unknown) => e), 'E_HASH_MISMATCH')).toBe(true);
      expect(existsSync(bad.tmpPath)).toBe(false);
      await expect(bad.publish()).rejects.toThrow(/publish before verify/);
    });

    it('publishes under the content\'s own digest when none is expected', async () => {
      const store = await make();
      const data = Buffer.from('an imported wheel');
      const writer = store.createWriter();
      await writeAll(writer, data);
      const { sha256: got, size } = await writer.commit(null);
      expect([got, size]).toEqual([sha256(data), data.length]);
      expect((await readFile(store.path(got))).toString()).toBe('an imported wheel');
    });

    it('stores an empty blob', async () => {
      const store = await make();
      const writer = store.createWriter();
      const empty = sha256(Buffer.alloc(0));
      expect(await writer.commit(empty)).toEqual({ sha256: empty, size: 0 });
      expect(await store.size(empty)).toBe(0);
    });

    it('refuses a wrong digest and leaves nothing behind', async () => {
      const store = await make();
      const data = randomBytes(10_000);
      const wrong = sha256(Buffer.from('something else'));
      const writer = store.createWriter();
      await writeAll(writer, data);
      const err = await writer.commit(wrong).catch((e: unknown) => e);
      expect(isPipcacheError(err, 'E_HASH_MISMATCH')).toBe(true);
      expect(await store.size(wrong)).toBeNull();
      expect(await store.size(sha256(data))).toBeNull();
      expect(existsSync(writer.tmpPath)).toBe(false);
    });

    it('abort leaves nothing behind', async () => {
      const store = await make();
      const data = randomBytes(10_000);
      const writer = store.createWriter();
      await writeAll(writer, data);
      await writer.abort();
      expect(await store.size(sha256(data))).toBeNull();
      expect(existsSync(writer.tmpPath)).toBe(false);
      // Aborting twice is harmless.
      await writer.abort();
    });

    it('lets a reader follow the temp file while the blob is written', async () => {
      const store = await make();
      const data = randomBytes(100_000);
      const writer = store.createWriter();
      let flushed = 0;
      await new Promise<void>((resolve) => {
        writer.write(data, (n) => {
          flushed = n;
          resolve();
        });
      });
      expect(flushed).toBe(data.length);
      expect((await readFile(writer.tmpPath)).equals(data)).toBe(true);
      await writer.commit(sha256(data));
    });

    it('removes a blob; removing an absent one is harmless', async () => {
      const store = await make();
      const data = Buffer.from('to be removed');
      const writer = store.createWriter();
      await writeAll(writer, data);
      const { sha256: digest } = await writer.commit(null);
      await store.remove(digest);
      expect(await store.size(digest)).toBeNull();
      await store.remove(digest);
      await store.remove(sha256(Buffer.from('never stored')));
    });

    it('lets concurrent writers of the same content both publish it', async () => {
      const store = await make();
      const data = randomBytes(500_000);
      const digest = sha256(data);
      const writers = [store.createWriter(), store.createWriter(), store.createWriter()];
      expect(new Set(writers.map((w) => w.tmpPath)).size).toBe(writers.length);
      await Promise.all(writers.map((w, i) => writeAll(w, data, 10_000 * (i + 1))));
      const results = await Promise.all(writers.map((w) => w.commit(digest)));
      for (const r of results) expect(r).toEqual({ sha256: digest, size: data.length });
      expect(await store.size(digest)).toBe(data.length);
      expect((await readFile(store.path(digest))).equals(data)).toBe(true);
    });

    it('keeps other blobs when one writer fails', async () => {
      const store = await make();
      const good = randomBytes(1000);
      const first = store.createWriter();
      const second = store.createWriter();
      await writeAll(first, good);
      await writeAll(second, randomBytes(1000));
      await first.commit(sha256(good));
      await expect(second.commit(sha256(good))).rejects.toThrow();
      expect((await readFile(store.path(sha256(good)))).equals(good)).toBe(true);
    });

    it('lists every published blob with its size, and no write in flight', async () => {
      const store = await make();
      const datas = [randomBytes(1000), randomBytes(2000), Buffer.alloc(0)];
      for (const data of datas) {
        const writer = store.createWriter();
        await writeAll(writer, data);
        await writer.commit(null);
      }
      const pending = store.createWriter();
      await writeAll(pending, randomBytes(500));
      const listed = [];
      for await (const blob of store.list()) listed.push(blob);
      expect(listed.map((b) => [b.sha256, b.size]).sort()).toEqual(datas.map((d) => [sha256(d), d.length]).sort());
      for (const b of listed) expect(b.changedMs).toBeGreaterThan(0);
      await pending.abort();
    });

    it('removes a listed blob only while it is the blob that was listed', async () => {
      const store = await make();
      const data = randomBytes(1000);
      const put = async (): Promise<void> => {
        const writer = store.createWriter();
        await writeAll(writer, data);
        await writer.commit(sha256(data));
      };
      await put();
      const [first] = await listAll(store);
      if (!first) throw new Error('nothing listed');
      await new Promise((r) => setTimeout(r, 20));
      // Published again since it was listed: kept.
      await put();
      expect(await store.removeListed(first)).toBe(false);
      expect(await store.size(sha256(data))).toBe(data.length);
      const [again] = await listAll(store);
      if (!again) throw new Error('nothing listed');
      expect(await store.removeListed(again)).toBe(true);
      expect(await store.size(sha256(data))).toBeNull();
      expect(await store.removeListed(again)).toBe(false);
    });

    it('never sweeps the temp file of a write in flight', async () => {
      const store = await make();
      const data = randomBytes(100_000);
      const writer = store.createWriter();
      await writeAll(writer, data.subarray(0, 50_000));
      await new Promise((r) => setTimeout(r, 20));
      expect(await store.sweepTemp(Date.now() + 60_000)).toEqual({ count: 0, bytes: 0 });
      await writeAll(writer, data.subarray(50_000));
      expect(await writer.commit(sha256(data))).toEqual({ sha256: sha256(data), size: data.length });
      expect(await store.sweepTemp(Date.now() + 60_000)).toEqual({ count: 0, bytes: 0 });
    });

    it('refuses a path for something that is not a digest', async () => {
      const store = await make();
      expect(() => store.path('../../etc/passwd')).toThrow();
      expect(() => store.path('A'.repeat(64))).toThrow();
    });
  });
}
