import type { Logger } from 'pino';
import type { HomePaths } from '@pipcache/shared';
import type { BlobStore } from './blob-store.js';
import { BlobLedger } from './blob-ledger.js';
import type { Catalog } from './catalog.js';
import { defaultCapFor, sizeUnsized } from './disk-cap.js';
import { Evictor } from './evictor.js';
import { ledgerCatalog, loadLedger } from './ledger-catalog.js';
import { Leases } from './leases.js';
import { openStore } from './open-store.js';
import { Pins } from './pins.js';
import { checkStoreAtStart } from './start-check.js';
import { Store } from './store.js';

/** The store of a running daemon: what serving, export, control and the cap share. */
export interface KeptStore {
  /** The catalog, every write of which keeps the running total of stored bytes. */
  catalog: Catalog;
  blobs: BlobStore;
  store: Store;
  pins: Pins;
  leases: Leases;
  evictor: Evictor;
}

export interface KeeperDeps {
  paths: HomePaths;
  /** The configured cap; null: the default share of the disk. */
  maxSize: () => number | null;
  onListingChanged: (origin: string, project: string) => void;
  onEvicted: (bytes: number) => void;
  log: Logger;
}

/**
 * Opens the store of a locked home and starts keeping it: the running total
 * of stored bytes (one catalog scan now, none later), the check at start
 * (records whose blob is gone, orphan blobs and temp files), the pins, the
 * leases of blobs in use and the eviction that keeps the total under the cap.
 */
export async function keepStore(deps: KeeperDeps): Promise<KeptStore> {
  const { paths, log } = deps;
  const raw = await openStore(paths, log);
  let evictor: Evictor | undefined;
  const ledger = new BlobLedger(() => evictor?.check());
  const catalog = ledgerCatalog(raw.catalog, ledger);
  loadLedger(catalog, ledger);
  await sizeUnsized(ledger, raw.blobs);
  const defaultCap = await defaultCapFor(paths.home);
  const store = new Store({ catalog, blobs: raw.blobs, onListingChanged: deps.onListingChanged });
  await checkStoreAtStart(store, log.child({ mod: 'store' }));
  const pins = Pins.load(catalog);
  log.info({ sets: pins.list().length, pinnedBytes: pins.pinnedBytes() }, 'pins loaded');
  const leases = new Leases(() => evictor?.check());
  evictor = new Evictor({
    ledger,
    leases,
    store,
    isPinned: (sha256) => pins.isPinned(sha256),
    maxSize: () => deps.maxSize() ?? defaultCap,
    log: log.child({ mod: 'evict' }),
    onEvicted: deps.onEvicted,
  });
  evictor.check();
  return { catalog, blobs: raw.blobs, store, pins, leases, evictor };
}
