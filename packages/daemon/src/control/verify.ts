import type { ProgressEvent, VerifyResult } from '@pipcache/shared';
import { sha256Of } from '../files/export-writer.js';
import type { BlobStore } from '../store/blob-store.js';
import { recordKey, type FileKey, type IndexDb } from '../store/index-db.js';

/**
 * `pipcache verify`: re-hashes every stored blob (archives and metadata
 * files). A blob that is missing or no longer matches its digest is removed
 * and marked not stored, so the next request fetches it again.
 */
export async function verifyStore(
  d: { db: IndexDb; blobs: BlobStore; onChanged: (index: string, project: string) => void },
  progress: (p: ProgressEvent) => void,
): Promise<VerifyResult> {
  const targets: { key: FileKey; index: string; project: string; filename: string; sha256: string; metadata: boolean; size: number }[] = [];
  for (const f of d.db.allFiles()) {
    const key = recordKey(f);
    if (f.stored && f.sha256) targets.push({ key, index: f.index, project: f.project, filename: f.filename, sha256: f.sha256, metadata: false, size: f.size ?? 0 });
    if (f.metadataStored) {
      targets.push({ key, index: f.index, project: f.project, filename: `${f.filename}.metadata`, sha256: f.metadataStored, metadata: true, size: 0 });
    }
  }
  const totalBytes = targets.reduce((a, t) => a + t.size, 0);
  const result: VerifyResult = { checked: 0, bytes: 0, damaged: [] };
  for (const t of targets) {
    progress({ phase: 'verifying', done: result.checked, total: targets.length, bytes: result.bytes, totalBytes });
    const path = d.blobs.path(t.sha256);
    const actual = await sha256Of(path).catch(() => null);
    result.checked++;
    result.bytes += t.size;
    if (actual === t.sha256) continue;
    result.damaged.push({ filename: t.filename, project: t.project, sha256: t.sha256, reason: actual === null ? 'missing' : `hashes to ${actual}` });
    await d.blobs.remove(t.sha256);
    await d.db.updateFile(t.key, (r) => (t.metadata ? { ...r, metadataStored: null } : { ...r, stored: false }));
    d.onChanged(t.index, t.project);
  }
  return result;
}
