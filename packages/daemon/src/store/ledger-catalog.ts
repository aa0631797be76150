import type { BlobLedger } from './blob-ledger.js';
import { recordKey, fileKeyId, type Catalog, type FileKey, type FileRecord, type HitCount, type PageRecord } from './catalog.js';

/** Fills the ledger from the catalog: the one full scan, at start. */
export function loadLedger(catalog: Catalog, ledger: BlobLedger): void {
  for (const rec of catalog.allFiles()) ledger.load(rec);
}

/**
 * The catalog, keeping a BlobLedger in step with every write that changes
 * which blobs records hold: a publish, an import, a page that drops or
 * re-digests a file, a damaged or evicted blob forgotten, a hit. The ledger
 * is told what each write left in the catalog (the records as read back), so
 * whoever writes, and in whatever order, the total follows the catalog.
 *
 * Only the writes are wrapped; every other member is the catalog's own,
 * reached through the prototype, so what the catalog adds later passes
 * through untouched.
 */
export function ledgerCatalog<C extends Catalog>(inner: C, ledger: BlobLedger): C {
  const ofOrigin = (page: PageRecord): FileRecord[] => inner.projectFiles(page.project).filter((r) => r.origin === page.origin);
  const writes: Pick<Catalog, 'savePage' | 'updateFile' | 'addHits' | 'putFile'> = {
    async savePage(page: PageRecord, listed: FileRecord[]): Promise<void> {
      const before = ofOrigin(page);
      await inner.savePage(page, listed);
      const after = ofOrigin(page);
      const kept = new Set(after.map((r) => fileKeyId(recordKey(r))));
      for (const r of before) if (!kept.has(fileKeyId(recordKey(r)))) ledger.dropRecord(recordKey(r));
      for (const r of after) ledger.setRecord(r);
    },
    async updateFile(key: FileKey, update: (rec: FileRecord) => FileRecord): Promise<FileRecord | undefined> {
      const out = await inner.updateFile(key, update);
      if (out) ledger.setRecord(out);
      return out;
    },
    async addHits(hits: Iterable<HitCount>): Promise<void> {
      const batch = [...hits];
      await inner.addHits(batch);
      for (const { key, last } of batch) {
        const at = Date.parse(last);
        if (Number.isFinite(at)) ledger.used(key, at);
      }
    },
    async putFile(rec: FileRecord): Promise<void> {
      await inner.putFile(rec);
      ledger.setRecord(rec);
    },
  };
  return Object.assign(Object.create(inner) as C, writes);
}
