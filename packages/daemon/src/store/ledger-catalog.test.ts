import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { BlobLedger } from './blob-ledger.js';
import { recordKey } from './catalog.js';
import { describeCatalogContract, fileRecord, pageRecord, SHA_A, SHA_B } from './catalog.contract.js';
import { ledgerCatalog, loadLedger } from './ledger-catalog.js';
import { LmdbCatalog } from './lmdb-catalog.js';

const dir = mkdtempSync(join(tmpdir(), 'pc-ledger-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let dbs = 0;
const open: LmdbCatalog[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) await c.close();
});

async function lmdb(): Promise<LmdbCatalog> {
  const catalog = new LmdbCatalog(join(dir, `db-${dbs++}`));
  await catalog.migrate();
  return catalog;
}

// Wrapping changes nothing the catalog promises.
describeCatalogContract('ledgerCatalog(LmdbCatalog)', async () => ledgerCatalog(await lmdb(), new BlobLedger()));

describe('ledgerCatalog', () => {
  it('keeps the ledger in step with publishes, imports, pages that drop or re-digest files, and hits', async () => {
    const inner = await lmdb();
    open.push(inner);
    const ledger = new BlobLedger();
    const catalog = ledgerCatalog(inner, ledger);
    const a = fileRecord('demo', '1.0', 'demo-1.0.tar.gz', { size: 100 });
    const b = fileRecord('demo', '2.0', 'demo-2.0.tar.gz', { sha256: SHA_B, size: 50 });
    await catalog.savePage(pageRecord('demo'), [a, b]);
    expect(ledger.totalBytes).toBe(0);
    await catalog.updateFile(recordKey(a), (r) => ({ ...r, stored: true, storedSize: 100, metadataStored: 'e'.repeat(64), metadataSize: 5 }));
    await catalog.updateFile(recordKey(b), (r) => ({ ...r, stored: true, storedSize: 50 }));
    expect(ledger.totalBytes).toBe(155);
    // An import of the same archive under another origin holds the same blob.
    await catalog.putFile({ ...a, origin: 'local', stored: true, storedSize: 100, imported: true });
    expect(ledger.totalBytes).toBe(155);
    expect(ledger.blob(SHA_A)?.holders).toBe(2);
    // The page now gives 2.0 another digest: its stored blob is no longer held.
    await catalog.savePage(pageRecord('demo'), [a, { ...b, sha256: 'f'.repeat(64) }]);
    expect(ledger.blob(SHA_B)).toBeUndefined();
    expect(ledger.totalBytes).toBe(105);
    await catalog.addHits([{ key: recordKey(a), count: 1, last: '2030-01-01T00:00:00.000Z' }]);
    expect(ledger.blob(SHA_A)?.lastUsed).toBe(Date.parse('2030-01-01T00:00:00.000Z'));
    // A fresh ledger loaded from the catalog agrees.
    const again = new BlobLedger();
    loadLedger(catalog, again);
    expect(again.totalBytes).toBe(ledger.totalBytes);
  });

  it('lets go of a record a page forgets, even one holding only a .metadata blob', async () => {
    const inner = await lmdb();
    open.push(inner);
    const ledger = new BlobLedger();
    const catalog = ledgerCatalog(inner, ledger);
    const a = fileRecord('demo', '1.0', 'demo-1.0-py3-none-any.whl');
    await catalog.savePage(pageRecord('demo'), [a]);
    await catalog.updateFile(recordKey(a), (r) => ({ ...r, metadataStored: 'e'.repeat(64), metadataSize: 5 }));
    expect(ledger.totalBytes).toBe(5);
    await catalog.savePage(pageRecord('demo'), []);
    expect(catalog.getFile(recordKey(a))).toBeUndefined();
    expect(ledger.totalBytes).toBe(0);
  });
});
