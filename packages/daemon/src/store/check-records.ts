import type { BlobStore } from './blob-store.js';
import { fileKeyId, recordKey, type Catalog, type FileKey, type FileRecord } from './catalog.js';
import type { BlobRole } from './blob-role.js';

/**
 * Finds the records that say a blob is stored while the blob is missing or
 * not the size recorded for it, and hands each to `forget` (see
 * `Store.forgetDamaged`). Cheap: one stat per distinct blob, no hashing; a
 * record that kept no size (an old layout) is checked for presence only.
 * Returns how many records were changed (each counted once).
 */
export async function forgetMissingBlobs(
  deps: { catalog: Catalog; blobs: BlobStore },
  forget: (key: FileKey, role: BlobRole) => Promise<FileRecord[]>,
): Promise<number> {
  const held: { key: FileKey; role: BlobRole; sha256: string; size: number | null }[] = [];
  for (const rec of deps.catalog.allFiles()) {
    if (rec.stored && rec.sha256) held.push({ key: recordKey(rec), role: { metadata: false }, sha256: rec.sha256, size: rec.storedSize });
    if (rec.metadataStored) held.push({ key: recordKey(rec), role: { metadata: true }, sha256: rec.metadataStored, size: rec.metadataSize });
  }
  const sizes = new Map<string, number | null>();
  const changed = new Set<string>();
  for (const h of held) {
    let size = sizes.get(h.sha256);
    if (size === undefined) {
      size = await deps.blobs.size(h.sha256);
      sizes.set(h.sha256, size);
    }
    if (size !== null && (h.size === null || h.size === size)) continue;
    // A wrong-sized blob is removed by `forget`: later records of it then find it missing.
    sizes.set(h.sha256, null);
    for (const rec of await forget(h.key, h.role)) changed.add(fileKeyId(recordKey(rec)));
  }
  return changed.size;
}
