import type { Logger } from 'pino';
import type { BlobLedger } from './blob-ledger.js';
import { overCap, planEviction } from './eviction-plan.js';
import type { Leases } from './leases.js';
import type { Store } from './store.js';

/** When blobs in use kept eviction short of the low-water mark, it tries again this much later. */
const RETRY_MS = 2000;

export interface EvictorDeps {
  ledger: BlobLedger;
  leases: Leases;
  store: Store;
  /** Pinned blobs are never evicted. */
  isPinned: (sha256: string) => boolean;
  /** The cap in bytes (the config's maxSize, or the default decided at start). */
  maxSize: () => number;
  log: Logger;
  /** Told each blob it removed, with its size (the metrics count them). */
  onEvicted?: (bytes: number) => void;
}

/** What `status` shows of the cap. */
export interface EvictionStatus {
  maxSize: number;
  bytes: number;
  pinnedBytes: number;
  /** Pinned blobs alone take more than the cap: they are kept anyway. */
  pinnedOverCap: boolean;
  evictions: number;
  bytesEvicted: number;
}

/**
 * Keeps the stored bytes under the cap. `check` is called after every
 * growth (a publish, an import, a download announcing its size) and costs a
 * comparison; when the cap would be crossed, a pass runs in the background
 * (never on a request's path) and evicts the least recently used blobs,
 * skipping pinned ones and ones being read or downloaded, down to the
 * low-water mark. One pass runs at a time; growth during a pass asks for
 * another.
 */
export class Evictor {
  private evictions = 0;
  private bytesEvicted = 0;
  private pinnedOverCap = false;
  private running: Promise<void> | undefined;
  private again = false;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly deps: EvictorDeps) {}

  private isOver(): boolean {
    return overCap(this.deps.ledger.totalBytes, this.deps.leases.pendingBytes, this.deps.maxSize());
  }

  /** Starts a pass in the background when the cap would be crossed. */
  check(): void {
    if (this.stopped || !this.isOver()) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.loop().finally(() => (this.running = undefined));
  }

  /** Resolves when no pass is running (tests, benchmarks, stop). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** No new pass starts; the one running finishes. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    await this.idle();
  }

  status(): EvictionStatus {
    const plan = this.plan();
    return {
      maxSize: this.deps.maxSize(),
      bytes: this.deps.ledger.totalBytes,
      pinnedBytes: plan.pinnedBytes,
      pinnedOverCap: plan.pinnedBytes > this.deps.maxSize(),
      evictions: this.evictions,
      bytesEvicted: this.bytesEvicted,
    };
  }

  private plan(): ReturnType<typeof planEviction> {
    const { ledger, leases, isPinned } = this.deps;
    return planEviction({
      blobs: ledger.blobs(),
      total: ledger.totalBytes,
      pending: leases.pendingBytes,
      cap: this.deps.maxSize(),
      isPinned,
      isHeld: (sha) => leases.isHeld(sha),
    });
  }

  private async loop(): Promise<void> {
    // Off the caller's path: the write that grew the total finishes first.
    await new Promise((r) => setImmediate(r));
    do {
      this.again = false;
      await this.pass();
    } while (this.again && !this.stopped && this.isOver());
  }

  private async pass(): Promise<void> {
    const { leases, ledger, store, log } = this.deps;
    const plan = this.plan();
    let freed = 0;
    let count = 0;
    let skipped = plan.heldBytes > 0;
    for (const victim of plan.victims) {
      if (this.stopped) break;
      // A reader may have arrived since the plan: it keeps the blob.
      if (!leases.beginEvict(victim.sha256)) {
        skipped = true;
        continue;
      }
      try {
        await store.evict(victim.sha256, ledger.holders(victim.sha256), () => !leases.isHeld(victim.sha256));
        freed += victim.size;
        count++;
        this.deps.onEvicted?.(victim.size);
      } catch (err) {
        log.error({ sha256: victim.sha256, err: (err as Error).message }, 'could not evict a blob');
      } finally {
        leases.endEvict(victim.sha256);
      }
    }
    this.evictions += count;
    this.bytesEvicted += freed;
    const cap = this.deps.maxSize();
    if (count > 0) log.info({ evicted: count, bytes: freed, total: ledger.totalBytes, maxSize: cap }, 'evicted the least recently used files to stay under maxSize');
    const pinnedOver = plan.pinnedBytes > cap;
    if (pinnedOver && !this.pinnedOverCap) {
      log.warn({ pinnedBytes: plan.pinnedBytes, maxSize: cap }, 'pinned files alone exceed maxSize: they are kept, nothing pinned is evicted');
    }
    this.pinnedOverCap = pinnedOver;
    if (skipped && this.isOver() && !this.stopped) {
      if (this.retry) clearTimeout(this.retry);
      this.retry = setTimeout(() => this.check(), RETRY_MS);
      this.retry.unref();
    }
  }
}
