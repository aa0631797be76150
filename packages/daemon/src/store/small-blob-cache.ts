import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { PipcacheError } from '@pipcache/shared';

/**
 * Small blobs (PEP 658 metadata files, small wheels) kept in memory, least
 * recently used first out, so that the many tiny requests of an install cost
 * no file system round trip. Blobs are immutable: an entry never goes stale.
 */
export class SmallBlobCache {
  private readonly entries = new Map<string, Buffer>();
  private bytes = 0;

  constructor(
    readonly maxEntryBytes: number,
    private readonly maxTotalBytes: number,
  ) {}

  /**
   * The blob's bytes when it is small enough to keep; null otherwise. `size`
   * is the size the index recorded; when unknown (null) the file is asked.
   * Rejects when it is missing, and with E_HASH_MISMATCH when its size or
   * content is not what the index and its name say (blobs never change, so
   * any difference is damage).
   */
  async get(sha256: string, path: string, size: number | null): Promise<Buffer | null> {
    if (size !== null && size > this.maxEntryBytes) return null;
    const hit = this.entries.get(sha256);
    if (hit) {
      this.entries.delete(sha256);
      this.entries.set(sha256, hit);
      return hit;
    }
    const actual = size ?? (await stat(path)).size;
    if (actual > this.maxEntryBytes) return null;
    const data = await readFile(path);
    if (data.length !== actual) {
      throw new PipcacheError('E_HASH_MISMATCH', `blob ${sha256} on disk is ${data.length} bytes, the index says ${actual}`);
    }
    // Cheap at this size: a blob damaged on disk is never served from memory.
    if (createHash('sha256').update(data).digest('hex') !== sha256) {
      throw new PipcacheError('E_HASH_MISMATCH', `blob ${sha256} on disk does not match its digest`);
    }
    this.entries.set(sha256, data);
    this.bytes += data.length;
    for (const [key, buf] of this.entries) {
      if (this.bytes <= this.maxTotalBytes) break;
      this.entries.delete(key);
      this.bytes -= buf.length;
    }
    return data;
  }
}
