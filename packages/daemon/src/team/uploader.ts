import type { Logger } from 'pino';
import type { Bucket } from './bucket.js';
import { describeError } from './bucket-errors.js';

export interface BacklogEntry {
  sha256: string;
  size: number;
}

/** Where the upload backlog is kept so that it survives a restart (a catalog setting). */
export interface BacklogStore {
  load(): BacklogEntry[];
  save(entries: readonly BacklogEntry[]): Promise<void>;
}

/** More than this waiting means the bucket has been gone for long: the oldest are dropped (they stay cached locally). */
const MAX_BACKLOG = 10_000;
/** Small blobs are mostly round trips (a HEAD, then a PUT): a few at once keep the link busy. */
const CONCURRENT_UPLOADS = 4;
/** A failed upload is tried again after this long. */
const RETRY_MS = 30_000;

export interface UploaderDeps {
  bucket: Bucket;
  blobPath: (sha256: string) => string;
  blobSize: (sha256: string) => Promise<number | null>;
  store: BacklogStore;
  log: Logger;
  available: () => boolean;
  failed: (err: unknown) => void;
  succeeded: () => void;
}

/**
 * Uploads verified blobs in the background, a few at a time, oldest first.
 * An object already in the bucket (HEAD) is not uploaded again; a blob
 * evicted locally before its turn is dropped from the backlog.
 */
export class Uploader {
  private readonly queue: BacklogEntry[];
  private readonly queued = new Set<string>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private retry: NodeJS.Timeout | undefined;
  private saving: Promise<void> = Promise.resolve();
  private readonly stopping = new AbortController();
  private waiters: (() => void)[] = [];
  uploads = 0;
  bytesUploaded = 0;
  /** Wall time with at least one upload running (for a throughput figure). */
  uploadMs = 0;
  private busySince = 0;

  constructor(private readonly deps: UploaderDeps) {
    this.queue = deps.store.load().slice(-MAX_BACKLOG);
    for (const e of this.queue) this.queued.add(e.sha256);
  }

  get size(): number {
    return this.queue.length;
  }

  add(sha256: string, size: number): void {
    if (this.queued.has(sha256)) return;
    this.queue.push({ sha256, size });
    this.queued.add(sha256);
    while (this.queue.length > MAX_BACKLOG) this.queued.delete((this.queue.shift() as BacklogEntry).sha256);
    this.persist();
    this.kick();
  }

  /** Starts uploads up to the limit, unless stopping, the bucket is down, or nothing waits. */
  kick(): void {
    while (!this.stopping.signal.aborted && this.inFlight.size < CONCURRENT_UPLOADS && this.deps.available()) {
      const next = this.queue.find((e) => !this.inFlight.has(e.sha256));
      if (!next) break;
      if (this.inFlight.size === 0) this.busySince = performance.now();
      this.inFlight.set(next.sha256, this.runOne(next));
    }
    this.settle();
  }

  private async runOne(entry: BacklogEntry): Promise<void> {
    try {
      await this.uploadOne(entry);
      this.deps.succeeded();
      this.drop(entry);
    } catch (err) {
      if (this.stopping.signal.aborted) return;
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        // Evicted here between its size check and its read: nothing to share, and not the bucket's fault.
        this.drop(entry);
        return;
      }
      this.deps.log.warn({ sha256: entry.sha256, err: describeError(err) }, 'team upload failed; kept in the backlog');
      this.deps.failed(err);
      clearTimeout(this.retry);
      this.retry = setTimeout(() => this.kick(), RETRY_MS);
      this.retry.unref();
    } finally {
      this.inFlight.delete(entry.sha256);
      if (this.inFlight.size === 0) this.uploadMs += performance.now() - this.busySince;
      // Next in line, or (the bucket down) nothing until the retry.
      setImmediate(() => this.kick());
    }
  }

  private drop(entry: BacklogEntry): void {
    const i = this.queue.indexOf(entry);
    if (i >= 0) this.queue.splice(i, 1);
    this.queued.delete(entry.sha256);
    this.persist();
  }

  private settle(): void {
    if (this.inFlight.size > 0) return;
    if (this.queue.length > 0 && this.deps.available() && !this.stopping.signal.aborted) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  idle(): Promise<void> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.settle();
    });
  }

  private async uploadOne(entry: BacklogEntry): Promise<void> {
    const size = await this.deps.blobSize(entry.sha256);
    if (size === null) return; // evicted or removed here: nothing to share
    if (await this.deps.bucket.has(entry.sha256)) return;
    await this.deps.bucket.upload(entry.sha256, this.deps.blobPath(entry.sha256), size, this.stopping.signal);
    this.uploads++;
    this.bytesUploaded += size;
    this.deps.log.debug({ sha256: entry.sha256, size }, 'uploaded to the team bucket');
  }

  private persist(): void {
    const snapshot = this.queue.slice();
    this.saving = this.saving
      .then(() => this.deps.store.save(snapshot))
      .catch((err: Error) => this.deps.log.warn({ err: err.message }, 'could not save the team upload backlog'));
  }

  /** Aborts a running upload (it stays in the backlog) and writes the backlog. */
  async stop(): Promise<void> {
    this.stopping.abort();
    clearTimeout(this.retry);
    await Promise.all(this.inFlight.values());
    this.settle();
    await this.saving;
  }
}
