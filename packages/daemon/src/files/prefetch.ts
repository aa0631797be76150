import type { Logger } from 'pino';

/** Archives fetched ahead at once; more offers are declined until one ends. */
export const PREFETCH_CONCURRENT = 4;

/**
 * Fetching an archive ahead of pip's request for it. pip reads a wheel's PEP
 * 658 `.metadata` to choose it, and asks for the wheel itself only after the
 * whole resolution, one file at a time: every archive of a cold install then
 * costs a round trip and a transfer on pip's critical path, and concurrent
 * installs move in lockstep, all waiting on each fetch together. Starting the
 * archive's download when its `.metadata` is served overlaps those fetches
 * with the resolution; pip's request later finds the archive stored, or joins
 * its download. The cost: an archive pip reads the metadata of but does not
 * install (backtracking, `--dry-run`) is fetched all the same, up to
 * `maxBytes` (`limits.prefetchBytes`, 0: never).
 */
export class Prefetcher {
  private running = 0;

  constructor(
    private readonly maxBytes: () => number,
    private readonly log: Logger,
  ) {}

  /** Downloads running because of an offer. */
  get active(): number {
    return this.running;
  }

  /**
   * Offers the archive of a served `.metadata` (`size` as the index gives it;
   * unknown sizes are declined). `start` begins its download and resolves when
   * it is stored; it is called only when the offer is taken. True when taken.
   */
  offer(filename: string, size: number | null, start: () => Promise<void>): boolean {
    const max = this.maxBytes();
    if (max === 0 || size === null || size > max || this.running >= PREFETCH_CONCURRENT) return false;
    this.running++;
    this.log.info({ filename, size }, 'fetching ahead: its metadata was read');
    start()
      .catch(() => undefined) // the download logs its own failure; pip's own request retries
      .finally(() => this.running--);
    return true;
  }
}
