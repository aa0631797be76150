import type { GcResult } from '@pipcache/shared';
import type { BlobStore, ListedBlob } from './blob-store.js';
import type { Catalog } from './catalog.js';

export interface GcOptions {
  /**
   * Orphan blobs and temp files changed less than this long ago are kept.
   * A download or an import publishes its blob first and records it a
   * moment later; a collection running meanwhile must not take the blob in
   * between. Zero only while nothing else can write (at start, before the
   * daemon listens).
   */
  keepRecentMs: number;
  /** The clock (ms since the epoch); injected by tests. */
  now?: () => number;
}

/** How long a running daemon's collection leaves fresh orphans and temp files alone. */
export const KEEP_RECENT_MS = 5 * 60 * 1000;

/** Every digest a record holds: stored archives and stored `.metadata` files. */
export function referencedBlobs(catalog: Catalog): Set<string> {
  const held = new Set<string>();
  for (const rec of catalog.allFiles()) {
    if (rec.stored && rec.sha256) held.add(rec.sha256);
    if (rec.metadataStored) held.add(rec.metadataStored);
  }
  return held;
}

/**
 * Removes blobs no record holds and the temp files of writes that will
 * never finish. The blobs are listed before the records are read, so a
 * blob published after the listing is not looked at, and one published
 * before it but recorded after the read is recent and kept.
 */
export async function collectGarbage(deps: { catalog: Catalog; blobs: BlobStore }, opts: GcOptions): Promise<GcResult> {
  const cutoff = (opts.now ?? Date.now)() - opts.keepRecentMs;
  const listed: ListedBlob[] = [];
  for await (const blob of deps.blobs.list()) listed.push(blob);
  const held = referencedBlobs(deps.catalog);
  const result: GcResult = { blobs: { count: 0, bytes: 0 }, temp: { count: 0, bytes: 0 }, keptRecent: 0 };
  for (const blob of listed) {
    if (held.has(blob.sha256)) continue;
    if (blob.changedMs >= cutoff) {
      result.keptRecent++;
      continue;
    }
    if (await deps.blobs.removeListed(blob)) {
      result.blobs.count++;
      result.blobs.bytes += blob.size;
    }
  }
  result.temp = await deps.blobs.sweepTemp(cutoff);
  return result;
}
