import type { Logger } from 'pino';
import type { TeamStatus } from '@pipcache/shared';
import type { SharedBlob, SharedBlobs } from '../files/shared-blobs.js';
import type { Bucket } from './bucket.js';
import { describeError } from './bucket-errors.js';
import { Uploader, type BacklogStore } from './uploader.js';
import { TeamPages } from './team-pages.js';
import type { SharedPages } from '../pages/shared-pages.js';

/** After a failure the bucket is left alone this long; requests go straight upstream meanwhile. */
const RETRY_AFTER_MS = 30_000;
/** A refused object is not asked for again this long (someone may replace it). */
const REFUSED_FOR_MS = 10 * 60_000;

export interface TeamTierDeps {
  bucket: Bucket;
  /** Where a verified local blob lives, and its size when still stored. */
  blobPath: (sha256: string) => string;
  blobSize: (sha256: string) => Promise<number | null>;
  backlog: BacklogStore;
  log: Logger;
  now?: () => number;
}

/**
 * The team tier: a bucket of blobs named by their sha256 that several
 * daemons read on a local miss and fill after verified upstream downloads.
 * Nothing read from it is trusted (the download hashes it like any body).
 * A bucket that fails costs one bounded delay, is reported once, and is
 * then skipped until RETRY_AFTER_MS has passed.
 */
export class TeamTier implements SharedBlobs {
  private state: 'up' | 'down' = 'up';
  private downUntil = 0;
  private readonly refusedUntil = new Map<string, number>();
  private hits = 0;
  private misses = 0;
  private refusedCount = 0;
  private errors = 0;
  private lastError: string | null = null;
  private readonly uploader: Uploader;
  private readonly teamPages: TeamPages;
  private readonly now: () => number;

  constructor(private readonly deps: TeamTierDeps) {
    this.now = deps.now ?? Date.now;
    this.uploader = new Uploader({
      bucket: deps.bucket,
      blobPath: deps.blobPath,
      blobSize: deps.blobSize,
      store: deps.backlog,
      log: deps.log,
      available: () => this.available(),
      failed: (err) => this.failed(err),
      succeeded: () => this.succeeded(),
    });
    this.teamPages = new TeamPages({
      bucket: deps.bucket,
      log: deps.log,
      available: () => this.available(),
      failed: (err) => this.failed(err),
      succeeded: () => this.succeeded(),
    });
  }

  /** The project pages in the bucket (the same state: a failure of either leaves the bucket alone). */
  get pages(): SharedPages {
    return this.teamPages;
  }

  start(): void {
    this.deps.log.info({ location: this.deps.bucket.describe(), backlog: this.uploader.size }, 'team tier on');
    this.uploader.kick();
  }

  async stop(): Promise<void> {
    this.teamPages.stop();
    await this.uploader.stop();
    this.deps.bucket.destroy();
  }

  private available(): boolean {
    if (this.state === 'up') return true;
    return this.now() >= this.downUntil;
  }

  /** Said once when the bucket goes down, once when it answers again. */
  private failed(err: unknown): void {
    this.errors++;
    this.lastError = describeError(err);
    this.downUntil = this.now() + RETRY_AFTER_MS;
    if (this.state === 'up') {
      this.state = 'down';
      this.deps.log.warn(
        { location: this.deps.bucket.describe(), err: this.lastError, retryInSeconds: RETRY_AFTER_MS / 1000 },
        'team bucket unavailable; going upstream without it until it answers again',
      );
    }
  }

  private succeeded(): void {
    if (this.state === 'down') {
      this.state = 'up';
      this.deps.log.info({ location: this.deps.bucket.describe() }, 'team bucket answers again');
      this.uploader.kick();
    }
  }

  async get(sha256: string): Promise<SharedBlob | null> {
    if (!this.available()) return null;
    const refused = this.refusedUntil.get(sha256);
    if (refused !== undefined) {
      if (this.now() < refused) return null;
      this.refusedUntil.delete(sha256);
    }
    try {
      const obj = await this.deps.bucket.get(sha256);
      this.succeeded();
      if (!obj) this.misses++;
      return obj;
    } catch (err) {
      this.failed(err);
      return null;
    }
  }

  put(sha256: string, size: number): void {
    this.uploader.add(sha256, size);
  }

  refuse(sha256: string, reason: string): void {
    this.refusedCount++;
    this.refusedUntil.set(sha256, this.now() + REFUSED_FOR_MS);
    this.deps.log.error({ sha256, key: this.deps.bucket.key(sha256), reason }, 'team bucket object refused: not served, not cached; going upstream');
  }

  served(): void {
    this.hits++;
  }

  status(): TeamStatus {
    return {
      location: this.deps.bucket.describe(),
      state: this.available() && this.state === 'up' ? 'up' : 'down',
      hits: this.hits,
      misses: this.misses,
      uploads: this.uploader.uploads,
      bytesUploaded: this.uploader.bytesUploaded,
      uploadSeconds: Math.round(this.uploader.uploadMs) / 1000,
      backlog: this.uploader.size,
      refused: this.refusedCount,
      pages: { ...this.teamPages.counts },
      errors: this.errors,
      lastError: this.lastError,
    };
  }

  /** Resolves once the upload backlog is empty or the bucket is down (tests, bench). */
  idle(): Promise<void> {
    return this.uploader.idle();
  }
}
