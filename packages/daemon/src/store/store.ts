import type { GcResult } from '@pipcache/shared';
import type { BlobStore } from './blob-store.js';
import { recordKey, type Catalog, type FileKey, type FileRecord } from './catalog.js';
import { heldBlob, type BlobRole } from './blob-role.js';
import { forgetMissingBlobs } from './check-records.js';
import { collectGarbage, type GcOptions } from './gc.js';

export interface StoreDeps {
  catalog: Catalog;
  blobs: BlobStore;
  /** A project's stored files changed: its pages list them differently (offline, `stored` views). */
  onListingChanged: (origin: string, project: string) => void;
}

/** The record without the blob `sha256`, in whichever role it held it. */
function withoutBlob(rec: FileRecord, sha256: string): FileRecord {
  let out = rec;
  if (out.stored && out.sha256 === sha256) out = { ...out, stored: false, storedSize: null };
  if (out.metadataStored === sha256) out = { ...out, metadataStored: null, metadataSize: null };
  return out;
}

/**
 * What the cache does to its records and blobs together: a verified blob
 * becomes stored, a damaged one is forgotten. Serving, `verify`, export and
 * import all go through here, so the record and the blob store never tell
 * two stories.
 */
export class Store {
  constructor(private readonly deps: StoreDeps) {}

  /**
   * A verified blob of `size` bytes is in the blob store under `sha256`:
   * the record holds it in `role`, with its size (checked on every later
   * hit). An archive whose record now expects another digest is left alone.
   * Returns the record as written, or undefined when there is none.
   */
  async recordStored(key: FileKey, role: BlobRole, sha256: string, size: number): Promise<FileRecord | undefined> {
    const updated = await this.deps.catalog.updateFile(key, (rec) => {
      if (role.metadata) return { ...rec, metadataStored: sha256, metadataSize: size };
      // The verified bytes' size also wins over what a page listed.
      return rec.sha256 === sha256 ? { ...rec, stored: true, storedSize: size, size } : rec;
    });
    this.deps.onListingChanged(key[3], key[0]);
    return updated;
  }

  /**
   * The blob a record holds in `role` is damaged (wrong digest, wrong size,
   * unreadable as what it claims): removes it, and marks not stored every
   * record of the project that holds it, in any role and from any origin
   * (one archive listed by two indexes, one METADATA shared by the wheels
   * of a release). Records of other projects cannot share it in practice;
   * were one to, its next hit finds the blob missing and fetches it again.
   * Returns the records changed; none when the record holds no such blob
   * (already forgotten), so calling it twice is harmless.
   */
  async forgetDamaged(key: FileKey, role: BlobRole): Promise<FileRecord[]> {
    const rec = this.deps.catalog.getFile(key);
    const sha256 = rec ? heldBlob(rec, role) : null;
    if (!rec || sha256 === null) return [];
    // The blob goes first: a crash in between leaves records pointing at a
    // missing blob, which hits treat as a miss; never a record cleared while
    // a damaged blob stays under the digest's name.
    await this.deps.blobs.remove(sha256);
    const changed: FileRecord[] = [];
    for (const other of this.deps.catalog.projectFiles(rec.project)) {
      if (withoutBlob(other, sha256) === other) continue;
      const updated = await this.deps.catalog.updateFile(recordKey(other), (r) => withoutBlob(r, sha256));
      if (updated) changed.push(updated);
    }
    const listings = new Map(changed.map((r) => [`${r.origin} ${r.project}`, r]));
    for (const r of listings.values()) this.deps.onListingChanged(r.origin, r.project);
    return changed;
  }

  /**
   * Garbage collection: removes the blobs no record holds and the temp
   * files of writes that will never finish (see `collectGarbage`).
   */
  collectGarbage(opts: GcOptions): Promise<GcResult> {
    return collectGarbage(this.deps, opts);
  }

  /**
   * Records that say stored while their blob is missing or of the wrong
   * size are marked not stored, so no record points at a missing blob
   * (run at start; see `forgetMissingBlobs`). Returns the records changed.
   */
  forgetMissing(): Promise<number> {
    return forgetMissingBlobs(this.deps, (key, role) => this.forgetDamaged(key, role));
  }

  /**
   * Evicts a healthy blob to make room: every record in `holders` that holds
   * it, in any role and of any project, is marked not stored (it stays
   * listed, so online pages still offer it and it is fetched again when
   * asked for; offline pages list only what is stored), then the blob is
   * removed, unless `mayRemove` says a download of the same bytes started
   * meanwhile (that download publishes them again). Records change first: a
   * crash in between leaves a blob nothing points at (which gc removes),
   * never a record pointing at a missing blob. Returns the records changed.
   */
  async evict(sha256: string, holders: Iterable<FileKey>, mayRemove: () => boolean = () => true): Promise<FileRecord[]> {
    const changed: FileRecord[] = [];
    for (const key of holders) {
      const rec = this.deps.catalog.getFile(key);
      if (!rec || withoutBlob(rec, sha256) === rec) continue;
      const updated = await this.deps.catalog.updateFile(key, (r) => withoutBlob(r, sha256));
      if (updated) changed.push(updated);
    }
    // No record held it (already evicted or forgotten): nothing to remove on its account.
    if (changed.length > 0 && mayRemove()) await this.deps.blobs.remove(sha256);
    const listings = new Map(changed.map((r) => [`${r.origin} ${r.project}`, r]));
    for (const r of listings.values()) this.deps.onListingChanged(r.origin, r.project);
    return changed;
  }
}
