import type { Logger } from 'pino';
import { isPipcacheError } from '@pipcache/shared';
import type { SharedPageRead, SharedPages, SharedPageWrite } from '../pages/shared-pages.js';
import type { Bucket } from './bucket.js';
import { describeError } from './bucket-errors.js';

/** Page writes at once: they are small, and blob uploads share the link. */
const CONCURRENT_WRITES = 2;
/** More pages than this waiting means the bucket is gone for long: newer ones are dropped (written again on their next refresh). */
const MAX_PENDING = 1000;

export interface TeamPagesDeps {
  bucket: Bucket;
  log: Logger;
  /** The tier's state: false while the bucket is left alone after a failure. */
  available: () => boolean;
  failed: (err: unknown) => void;
  succeeded: () => void;
}

export interface TeamPagesCounts {
  written: number;
  read: number;
  refused: number;
}

interface Pending {
  origin: string;
  project: string;
  page: SharedPageWrite;
}

/**
 * Project pages in the bucket: written in the background after a refresh
 * from an index (unless the listing is the one last written), read in
 * team-only mode. The pages room decodes what is read; this only moves it.
 * Writes are not kept across restarts: the next refresh writes again.
 */
export class TeamPages implements SharedPages {
  private readonly pending = new Map<string, Pending>();
  private running = 0;
  /** key -> digest of the listing last written, so an unchanged listing is not written again. */
  private readonly written = new Map<string, string>();
  private stopped = false;
  readonly counts: TeamPagesCounts = { written: 0, read: 0, refused: 0 };

  constructor(private readonly deps: TeamPagesDeps) {}

  async read(origin: string, project: string, maxBytes: number): Promise<SharedPageRead> {
    if (!this.deps.available()) return { kind: 'unavailable', reason: 'left alone after a failure' };
    try {
      const text = await this.deps.bucket.getText(this.deps.bucket.pageKey(origin, project), maxBytes);
      this.deps.succeeded();
      return text === null ? { kind: 'absent' } : { kind: 'found', text };
    } catch (err) {
      if (isPipcacheError(err, 'E_LIMIT')) {
        // The bucket answered: the object is at fault, not the store.
        this.refused(origin, project, err.message);
        return { kind: 'unavailable', reason: err.message };
      }
      this.deps.failed(err);
      return { kind: 'unavailable', reason: describeError(err) };
    }
  }

  write(origin: string, project: string, page: SharedPageWrite): void {
    const key = this.deps.bucket.pageKey(origin, project);
    if (this.stopped || this.written.get(key) === page.listingDigest) return;
    if (!this.pending.has(key) && this.pending.size >= MAX_PENDING) return;
    this.pending.set(key, { origin, project, page });
    this.kick();
  }

  refused(origin: string, project: string, reason: string): void {
    this.counts.refused++;
    this.deps.log.error({ key: this.deps.bucket.pageKey(origin, project), reason }, 'team page refused: not cached');
  }

  used(): void {
    this.counts.read++;
  }

  private kick(): void {
    while (!this.stopped && this.running < CONCURRENT_WRITES && this.pending.size > 0) {
      if (!this.deps.available()) {
        // Dropped, not queued: a page is written again after its next refresh.
        this.pending.clear();
        return;
      }
      const [key, next] = this.pending.entries().next().value as [string, Pending];
      this.pending.delete(key);
      this.running++;
      void this.writeOne(key, next).finally(() => {
        this.running--;
        this.kick();
      });
    }
  }

  private async writeOne(key: string, p: Pending): Promise<void> {
    try {
      await this.deps.bucket.putText(key, p.page.json, 'application/json');
      this.written.set(key, p.page.listingDigest);
      this.counts.written++;
      this.deps.succeeded();
      this.deps.log.debug({ key }, 'page written to the team bucket');
    } catch (err) {
      if (this.stopped) return;
      this.deps.log.warn({ key, err: describeError(err) }, 'team page write failed');
      this.deps.failed(err);
    }
  }

  stop(): void {
    this.stopped = true;
    this.pending.clear();
  }
}
