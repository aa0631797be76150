import { describe, expect, it } from 'vitest';
import { BlobLedger } from './blob-ledger.js';
import { recordKey } from './catalog.js';
import { fileRecord, SHA_A, SHA_B } from './catalog.contract.js';

const SHA_M = 'd'.repeat(64);
const T0 = Date.parse('2026-01-01T00:00:00.000Z');

describe('BlobLedger', () => {
  it('counts a blob once however many records hold it, until the last lets go', () => {
    const grew: number[] = [];
    const ledger = new BlobLedger(() => grew.push(ledger.totalBytes));
    const a = fileRecord('demo', '1.0', 'demo-1.0.tar.gz', { stored: true, storedSize: 100 });
    const b = { ...a, origin: 'mirror.example' }; // the same archive listed by a second index
    ledger.setRecord(a);
    ledger.setRecord(b);
    expect(ledger.totalBytes).toBe(100);
    expect(ledger.blob(SHA_A)?.holders).toBe(2);
    expect(ledger.holders(SHA_A)).toEqual([recordKey(a), recordKey(b)]);
    expect(grew).toEqual([100]);
    ledger.setRecord({ ...a, stored: false, storedSize: null });
    expect(ledger.totalBytes).toBe(100);
    ledger.dropRecord(recordKey(b));
    expect(ledger.totalBytes).toBe(0);
    expect(ledger.blobCount).toBe(0);
  });

  it('counts a shared METADATA once and archives apart from it', () => {
    const ledger = new BlobLedger();
    const meta = { metadataStored: SHA_M, metadataSize: 7 };
    ledger.setRecord(fileRecord('demo', '1.0', 'demo-1.0-py3-none-any.whl', { stored: true, storedSize: 100, ...meta }));
    ledger.setRecord(fileRecord('demo', '1.0', 'demo-1.0-cp311-cp311-linux_x86_64.whl', { sha256: SHA_B, stored: true, storedSize: 50, ...meta }));
    expect(ledger.totalBytes).toBe(157);
    expect(ledger.blob(SHA_M)?.holders).toBe(2);
  });

  it('follows a record whose digest changed', () => {
    const ledger = new BlobLedger();
    const rec = fileRecord('demo', '1.0', 'demo-1.0.tar.gz', { stored: true, storedSize: 100 });
    ledger.setRecord(rec);
    ledger.setRecord({ ...rec, sha256: SHA_B, storedSize: 30 });
    expect(ledger.blob(SHA_A)).toBeUndefined();
    expect(ledger.totalBytes).toBe(30);
  });

  it('dates a blob by its last hit, else first sight; a blob newly stored at run time counts as used now', () => {
    let now = T0 + 5000;
    const ledger = new BlobLedger(undefined, () => now);
    const old = fileRecord('demo', '1.0', 'demo-1.0.tar.gz', { stored: true, storedSize: 10, lastServed: '2026-02-01T00:00:00.000Z' });
    ledger.load(old);
    expect(ledger.blob(SHA_A)?.lastUsed).toBe(Date.parse('2026-02-01T00:00:00.000Z'));
    ledger.setRecord(fileRecord('demo', '2.0', 'demo-2.0.tar.gz', { sha256: SHA_B, stored: true, storedSize: 10 }));
    expect(ledger.blob(SHA_B)?.lastUsed).toBe(T0 + 5000);
    now = T0 + 6000;
    ledger.used(recordKey(old), T0 + 9000_000_000);
    expect(ledger.blob(SHA_A)?.lastUsed).toBe(T0 + 9000_000_000);
  });

  it('announces growth at run time only, and takes sizes the records lack from the disk', () => {
    let grew = 0;
    const ledger = new BlobLedger(() => grew++);
    ledger.load(fileRecord('demo', '1.0', 'demo-1.0.tar.gz', { stored: true, storedSize: null, size: null }));
    expect(grew).toBe(0);
    expect(ledger.unsized()).toEqual([SHA_A]);
    ledger.setSize(SHA_A, 42);
    expect(ledger.totalBytes).toBe(42);
    expect(ledger.unsized()).toEqual([]);
  });
});
