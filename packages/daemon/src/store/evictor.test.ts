import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { writeAll } from './blob-store.contract.js';
import { BlobLedger } from './blob-ledger.js';
import { recordKey, type FileRecord } from './catalog.js';
import { fileRecord, pageRecord } from './catalog.contract.js';
import { Evictor } from './evictor.js';
import { FsBlobStore } from './fs-blob-store.js';
import { Leases } from './leases.js';
import { ledgerCatalog } from './ledger-catalog.js';
import { LmdbCatalog } from './lmdb-catalog.js';
import { Store } from './store.js';

const dir = mkdtempSync(join(tmpdir(), 'pc-evict-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let homes = 0;
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

const digest = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const bytes = (tag: string, size: number): Buffer => Buffer.alloc(size, tag);

interface World {
  catalog: ReturnType<typeof ledgerCatalog<LmdbCatalog>>;
  blobs: FsBlobStore;
  ledger: BlobLedger;
  leases: Leases;
  evictor: Evictor;
  store: Store;
  pinned: Set<string>;
  logs: string[];
  /** Lists and stores a file of `size` bytes (filled with `tag`), used at `at` (ms). */
  publish(name: string, tag: string, size: number, at: number): Promise<FileRecord>;
}

async function world(cap: number): Promise<World> {
  const home = join(dir, `home-${homes++}`);
  const inner = new LmdbCatalog(join(home, 'catalog'));
  await inner.migrate();
  const blobs = new FsBlobStore(join(home, 'blobs'), join(home, 'tmp'));
  await blobs.init();
  const logs: string[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => logs.push(line) });
  const w: Partial<World> = { blobs, logs, pinned: new Set() };
  let clock = 0;
  const ledger = new BlobLedger(() => w.evictor?.check(), () => clock);
  const catalog = ledgerCatalog(inner, ledger);
  const store = new Store({ catalog, blobs, onListingChanged: () => undefined });
  const leases = new Leases(() => w.evictor?.check());
  const evictor = new Evictor({ ledger, leases, store, isPinned: (sha) => w.pinned!.has(sha), maxSize: () => cap, log });
  Object.assign(w, { catalog, ledger, leases, evictor, store });
  cleanup.push(async () => {
    await evictor.stop();
    await inner.close();
  });
  w.publish = async (name, tag, size, at) => {
    const data = bytes(tag, size);
    const rec = fileRecord(name, '1.0', `${name}-1.0.tar.gz`, { sha256: digest(data), size, lastServed: new Date(at).toISOString() });
    clock = at;
    await catalog.savePage(pageRecord(name), [rec]);
    const writer = blobs.createWriter();
    await writeAll(writer, data);
    await writer.commit(rec.sha256);
    return (await store.recordStored(recordKey(rec), { metadata: false }, rec.sha256 as string, size)) as FileRecord;
  };
  return w as World;
}

const storedNames = (w: World): string[] => [...w.catalog.allFiles()].filter((r) => r.stored).map((r) => r.project).sort();

describe('Evictor', () => {
  it('evicts the least recently used in the background, down to 90% of the cap, leaving records listed but not stored', async () => {
    const w = await world(1000);
    const recs: FileRecord[] = [];
    for (const [i, name] of ['old', 'older', 'newest', 'mid'].entries()) recs.push(await w.publish(name, String(i), 300, [3, 1, 9, 5][i] as number));
    // 1200 > 1000: evict down to 900, least recently used first.
    await w.evictor.idle();
    expect(storedNames(w)).toEqual(['mid', 'newest', 'old']);
    const older = w.catalog.getFile(recordKey(recs[1] as FileRecord));
    expect(older).toMatchObject({ stored: false, storedSize: null, sha256: recs[1]?.sha256 });
    expect(existsSync(w.blobs.path(recs[1]?.sha256 as string))).toBe(false);
    expect(w.ledger.totalBytes).toBe(900);
    expect(w.evictor.status()).toMatchObject({ evictions: 1, bytesEvicted: 300, bytes: 900, maxSize: 1000 });
  });

  it('leaves a blob being read alone, and tries again once it is released', async () => {
    const w = await world(1000);
    const first = await w.publish('first', 'f', 400, 1);
    await w.publish('second', 's', 400, 2);
    const release = w.leases.acquire(first.sha256 as string);
    expect(release).not.toBeNull();
    await w.publish('third', 't', 400, 3);
    await w.evictor.idle();
    expect(storedNames(w)).toEqual(['first', 'third']); // the next oldest went instead
    expect(w.ledger.totalBytes).toBe(800);
    release?.();
    await w.publish('fourth', 'o', 400, 4);
    await w.evictor.idle();
    expect(storedNames(w)).toEqual(['fourth', 'third']);
  });

  it('gives no reader lease on a blob being evicted, and keeps a blob a download of the same bytes holds', async () => {
    const w = await world(1000);
    const rec = await w.publish('one', '1', 300, 1);
    const sha = rec.sha256 as string;
    expect(w.leases.beginEvict(sha)).toBe(true);
    expect(w.leases.acquire(sha)).toBeNull();
    const hold = w.leases.hold(sha);
    await w.store.evict(sha, w.ledger.holders(sha), () => !w.leases.isHeld(sha));
    w.leases.endEvict(sha);
    // Records changed, but the blob stays for the download that will publish it again.
    expect(w.catalog.getFile(recordKey(rec))?.stored).toBe(false);
    expect(existsSync(w.blobs.path(sha))).toBe(true);
    hold();
    expect(w.leases.acquire(sha)).not.toBeNull();
  });

  it('never evicts a pinned blob; pinned files over the cap are kept and said so once', async () => {
    const w = await world(1000);
    w.pinned.add(digest(bytes('a', 600)));
    w.pinned.add(digest(bytes('b', 600)));
    await w.publish('a', 'a', 600, 1);
    await w.publish('b', 'b', 600, 2);
    await w.publish('c', 'c', 100, 3);
    await w.evictor.idle();
    expect(storedNames(w)).toEqual(['a', 'b']);
    await w.publish('d', 'd', 100, 4);
    await w.evictor.idle();
    expect(storedNames(w)).toEqual(['a', 'b']);
    expect(w.evictor.status()).toMatchObject({ pinnedBytes: 1200, pinnedOverCap: true, evictions: 2, bytes: 1200 });
    expect(w.logs.filter((l) => l.includes('pinned files alone exceed maxSize'))).toHaveLength(1);
  });

  it('evicts a blob several records hold as one, marking every holder not stored', async () => {
    const w = await world(500);
    const shared = await w.publish('shared', 's', 300, 1);
    const mirror = { ...shared, origin: 'mirror.example' };
    await w.catalog.putFile(mirror);
    expect(w.ledger.blob(shared.sha256 as string)?.holders).toBe(2);
    // The second holder counts as a use when it came (clock 1): the fresh file is newer.
    await w.publish('fresh', 'f', 300, 5);
    await w.evictor.idle();
    expect(w.catalog.getFile(recordKey(shared))?.stored).toBe(false);
    expect(w.catalog.getFile(recordKey(mirror))?.stored).toBe(false);
    expect(w.evictor.status()).toMatchObject({ evictions: 1, bytesEvicted: 300, bytes: 300 });
  });

  it('makes room for bytes a download announced before they are published', async () => {
    const w = await world(1000);
    await w.publish('a', 'a', 400, 1);
    await w.publish('b', 'b', 400, 2);
    const release = w.leases.hold('9'.repeat(64), 300);
    await w.evictor.idle();
    expect(storedNames(w)).toEqual(['b']);
    release();
  });
});
