/** Gives a lease back; calling it again does nothing. */
export type Release = () => void;

/**
 * Who is using which blob right now: a hit being sent, a client following a
 * download, the download itself. Eviction skips a blob with a lease, and a
 * blob being evicted gives no new reader lease (the reader treats the file
 * as a miss instead). Downloads also announce the bytes they are about to
 * publish, so eviction can make room before the cap is crossed.
 */
export class Leases {
  private readonly held = new Map<string, number>();
  private readonly evicting = new Set<string>();
  private pending = 0;

  /** `onPending`: bytes about to be published were announced (eviction may need to start). */
  constructor(private readonly onPending: () => void = () => undefined) {}

  /** A reader's lease on a stored blob; null while that blob is being evicted. */
  acquire(sha256: string): Release | null {
    if (this.evicting.has(sha256)) return null;
    return this.hold(sha256);
  }

  /**
   * A lease that is always granted: a download of `sha256` that will publish
   * about `bytes` (0 when unknown). Eviction leaves the blob alone while it
   * is held, even if the eviction already began.
   */
  hold(sha256: string, bytes = 0): Release {
    this.held.set(sha256, (this.held.get(sha256) ?? 0) + 1);
    this.pending += bytes;
    if (bytes > 0) this.onPending();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.pending -= bytes;
      const n = (this.held.get(sha256) ?? 1) - 1;
      if (n > 0) this.held.set(sha256, n);
      else this.held.delete(sha256);
    };
  }

  isHeld(sha256: string): boolean {
    return this.held.has(sha256);
  }

  /** Bytes that downloads in flight announced and have not published yet. */
  get pendingBytes(): number {
    return this.pending;
  }

  /** Starts evicting a blob: false (nothing changes) when it has a lease. */
  beginEvict(sha256: string): boolean {
    if (this.held.has(sha256)) return false;
    this.evicting.add(sha256);
    return true;
  }

  endEvict(sha256: string): void {
    this.evicting.delete(sha256);
  }
}
