import type { ProgressEvent, VerifyResult } from '@pipcache/shared';
import { sha256Of } from '../store/digest.js';
import type { BlobStore } from '../store/blob-store.js';
import { recordKey, type FileKey, type Catalog } from '../store/catalog.js';
import type { Store } from '../store/store.js';

/** The digest of a blob, or null when it is missing; any other read error is thrown. */
async function digestOrMissing(path: string): Promise<string | null> {
  try {
    return await sha256Of(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * `pipcache verify`: re-hashes every stored blob (archives and metadata
 * files). A blob that is missing or no longer matches its digest is
 * forgotten (see `Store.forgetDamaged`), so the next request fetches it
 * again; a sound one whose record lacks its size gets it. A blob that
 * cannot be read for another reason (EIO, EMFILE, EACCES...) says nothing
 * about its content: it is reported as an error and kept.
 */
export async function verifyStore(
  deps: { catalog: Catalog; blobs: BlobStore; store: Store },
  progress: (p: ProgressEvent) => void,
): Promise<VerifyResult> {
  const targets: { key: FileKey; project: string; filename: string; sha256: string; metadata: boolean; size: number; sizeKnown: boolean }[] = [];
  for (const f of deps.catalog.allFiles()) {
    const key = recordKey(f);
    if (f.stored && f.sha256) {
      targets.push({ key, project: f.project, filename: f.filename, sha256: f.sha256, metadata: false, size: f.storedSize ?? f.size ?? 0, sizeKnown: f.storedSize !== null });
    }
    if (f.metadataStored) {
      targets.push({ key, project: f.project, filename: `${f.filename}.metadata`, sha256: f.metadataStored, metadata: true, size: 0, sizeKnown: f.metadataSize !== null });
    }
  }
  const totalBytes = targets.reduce((a, t) => a + t.size, 0);
  const result: VerifyResult = { checked: 0, bytes: 0, damaged: [], errors: [] };
  for (const t of targets) {
    progress({ phase: 'verifying', done: result.checked, total: targets.length, bytes: result.bytes, totalBytes });
    const path = deps.blobs.path(t.sha256);
    let actual: string | null;
    try {
      actual = await digestOrMissing(path);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      result.checked++;
      result.errors.push({ filename: t.filename, project: t.project, sha256: t.sha256, reason: `cannot read ${path}: ${e.code ?? e.message}` });
      continue;
    }
    result.checked++;
    result.bytes += t.size;
    if (actual === t.sha256) {
      // A record from before sizes were kept: the sound blob's size is its size.
      const size = t.sizeKnown ? null : await deps.blobs.size(t.sha256);
      if (size !== null) await deps.store.recordStored(t.key, { metadata: t.metadata }, t.sha256, size);
      continue;
    }
    result.damaged.push({ filename: t.filename, project: t.project, sha256: t.sha256, reason: actual === null ? 'missing' : `hashes to ${actual}` });
    await deps.store.forgetDamaged(t.key, { metadata: t.metadata });
  }
  return result;
}
