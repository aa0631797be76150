import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { PipcacheError, isPipcacheError } from '@pipcache/shared';
import type { BlobStore, BlobWriter } from '../store/blob-store.js';
import { header, type UpstreamClient } from '../upstream/client.js';
import { RecentBytes } from './recent-bytes.js';
import { readBatches, type BatchSink } from './read-batches.js';
import type { SharedBlobs } from './shared-blobs.js';

/**
 * A shared-tier object up to this size is verified before any byte of it is
 * served, so a bad one falls back to upstream within the same request. A
 * larger one streams (held one byte short like any download); a bad one then
 * fails that request, and the next goes upstream.
 */
export const VERIFY_BEFORE_SERVE_BYTES = 32 * 1024 * 1024;
/** A body is written (and handed to readers) in batches of this size, or of what arrived within BATCH_MS. */
const BATCH_BYTES = 512 * 1024;
const BATCH_MS = 10;
/** Memory a download keeps of its newest bytes for the readers that keep up. */
const RECENT_BYTES = 4 * 1024 * 1024;

/**
 * `verified`: every byte is in the temp file and matches the digest; readers
 * may take the last byte while the blob is made durable and recorded (`done`).
 */
export type DownloadState = 'starting' | 'running' | 'verified' | 'done' | 'failed';

/**
 * One upstream download, shared by every request for the same content. The
 * body is written to a temp file and hashed; readers follow the temp file but
 * are held one byte short of the end until the digest is verified, so a
 * corrupt or cut-off body never reaches a client complete. Publishing (fsync,
 * rename, the catalog record) comes after the last byte is released: it is
 * off the client's critical path, and nothing is listed as stored before it
 * is durable.
 */
export class Download extends EventEmitter {
  state: DownloadState = 'starting';
  /** Total size when known (Content-Length). */
  size: number | null = null;
  /** Bytes safely in the temp file. */
  flushed = 0;
  error: PipcacheError | undefined;
  /** Upstream status when it was not 200. */
  upstreamStatus: number | undefined;
  /** Where the bytes came from, once known. */
  source: 'upstream' | 'shared' | undefined;
  private writerNow: BlobWriter;
  /** The newest chunks, for readers keeping up (they never wait for the disk). */
  private readonly recent = new RecentBytes(RECENT_BYTES);
  private readonly ready: Promise<void>;

  constructor(
    readonly url: string,
    readonly expectedSha256: string,
    readonly expectedSize: number | null,
    private readonly store: BlobStore,
    private readonly upstream: UpstreamClient,
    private readonly log: Logger,
    private readonly onVerified: (size: number) => Promise<void>,
    /** Cap on a body whose size neither upstream nor the index gives (limits.unknownFileBytes). */
    private readonly maxUnknownBytes: number,
    /** Sent upstream with the request (an index's Authorization). */
    private readonly headers: Record<string, string> = {},
    /** The team tier, tried before upstream; null when none is configured. */
    private readonly shared: SharedBlobs | null = null,
  ) {
    super();
    this.setMaxListeners(0);
    this.writerNow = store.createWriter();
    this.ready = new Promise((resolve) => this.once('state', () => resolve()));
  }

  get writer(): BlobWriter {
    return this.writerNow;
  }

  get tmpPath(): string {
    return this.writer.tmpPath;
  }

  /** Resolves once headers are known (running) or the download failed. */
  whenStarted(): Promise<void> {
    return this.state === 'starting' ? this.ready : Promise.resolve();
  }

  /** Readers may read up to this offset: all but the last byte received, until every byte is verified. */
  readable(): number {
    if (this.complete) return this.flushed;
    return Math.max(0, this.recent.received - 1);
  }

  /**
   * Bytes from `from` up to `to` (at most `max`) still in memory, as views;
   * null when a reader must take them from the temp file (up to `flushed`).
   */
  fromMemory(from: number, to: number, max: number): Buffer[] | null {
    return this.recent.slice(from, Math.min(to, this.readable()), max);
  }

  /** Every byte is verified: readers get all of them (publishing may still be under way). */
  get complete(): boolean {
    return this.state === 'verified' || this.state === 'done';
  }

  private setState(state: DownloadState): void {
    this.state = state;
    this.emit('state', state);
    this.emit('progress');
  }

  private fail(err: PipcacheError): void {
    this.error = err;
    this.setState('failed');
  }

  async run(): Promise<void> {
    try {
      if (this.shared && (await this.fromShared(this.shared))) return;
      this.source = 'upstream';
      const res = await this.upstream.request(this.url, { headers: { ...this.headers, 'accept-encoding': 'identity' } });
      if (res.status !== 200) {
        res.body.resume();
        this.upstreamStatus = res.status;
        throw new PipcacheError('E_UPSTREAM', `${this.url}: upstream answered ${res.status}`);
      }
      const encoding = header(res.headers, 'content-encoding');
      if (encoding && encoding !== 'identity') {
        res.body.destroy();
        throw new PipcacheError('E_UPSTREAM', `${this.url}: upstream sent Content-Encoding ${encoding} for an archive`);
      }
      const length = header(res.headers, 'content-length');
      this.size = length !== undefined && /^\d+$/.test(length) ? Number(length) : this.expectedSize;
      if (this.expectedSize !== null && this.size !== null && this.size !== this.expectedSize) {
        res.body.destroy();
        throw new PipcacheError('E_TRUNCATED', `${this.url}: upstream length ${this.size}, index says ${this.expectedSize}`);
      }
      this.setState('running');
      await this.copy(res.body, true);
      const { size } = await this.writer.verify(this.expectedSha256);
      await this.finish(size);
      this.shared?.put(this.expectedSha256, size);
    } catch (err) {
      // A local write failure (a full disk) is ours, not upstream's: say so.
      // Judged before the abort, which fails the writes still queued.
      const e =
        this.writer.error ??
        (err instanceof PipcacheError ? err : new PipcacheError('E_TRUNCATED', `${this.url}: body failed: ${(err as Error).message}`, { cause: err }));
      await this.writer.abort();
      this.log.error({ url: this.url, code: e.code, err: e.message }, 'download discarded; nothing cached');
      this.fail(e);
    }
  }

  /** Writes a body to the temp file in batches (see readBatches); `publish`: readers may follow it. */
  private async copy(body: Readable, publish: boolean): Promise<void> {
    const onFlushed = publish
      ? (n: number): void => {
          this.flushed = n;
          this.emit('progress');
        }
      : (): void => undefined;
    const sink: BatchSink = {
      write: (chunks) => {
        const more = this.writer.writev(chunks, onFlushed);
        if (publish) {
          for (const chunk of chunks) this.recent.push(chunk);
          this.emit('progress');
        }
        return more;
      },
      drained: () => this.writer.waitDrain(),
      healthy: () => !this.writer.error,
    };
    await readBatches(body, sink, {
      bytes: BATCH_BYTES,
      ms: BATCH_MS,
      check: (received) => {
        if (this.size === null && received > this.maxUnknownBytes) {
          throw new PipcacheError('E_LIMIT', `${this.url}: body of unknown size exceeds ${this.maxUnknownBytes} bytes (limits.unknownFileBytes)`);
        }
      },
    });
    if (this.size !== null && this.writer.bytes !== this.size) {
      throw new PipcacheError('E_TRUNCATED', `${this.url}: got ${this.writer.bytes} of ${this.size} bytes`);
    }
  }

  /** Releases the verified bytes to readers, then publishes and records the blob. */
  private async finish(size: number): Promise<void> {
    this.flushed = size;
    this.size = size;
    this.setState('verified');
    await this.writer.publish().catch((err: unknown) => {
      // Readers have the verified bytes; the cache does not (a full disk): ours, not upstream's.
      throw isPipcacheError(err) ? err : new PipcacheError('E_DISK', `${this.url}: could not store the verified file: ${(err as Error).message}`, { cause: err });
    });
    await this.onVerified(size);
    this.setState('done');
    this.recent.clear();
  }

  /**
   * Tries the shared tier. True when the blob came from it, verified and
   * stored; false when the download should go upstream (absent, unreachable,
   * or refused before a byte was served). A refused object that was already
   * being served fails the download: its readers got all but the last byte,
   * so they fail cleanly, and the next request goes upstream.
   */
  private async fromShared(shared: SharedBlobs): Promise<boolean> {
    const obj = await shared.get(this.expectedSha256);
    if (!obj) return false;
    const sha = this.expectedSha256;
    if (this.expectedSize !== null && obj.size !== null && obj.size !== this.expectedSize) {
      obj.body.destroy();
      shared.refuse(sha, `size ${obj.size}, the index says ${this.expectedSize}`);
      return false;
    }
    this.size = obj.size ?? this.expectedSize;
    const stream = this.size === null || this.size > VERIFY_BEFORE_SERVE_BYTES;
    this.source = 'shared';
    if (stream) this.setState('running');
    try {
      await this.copy(obj.body, stream);
      const { size } = await this.writer.verify(sha);
      shared.served(sha, size);
      await this.finish(size);
      return true;
    } catch (err) {
      obj.body.destroy();
      // A local failure (a full disk) is not the object's fault.
      if (this.writer.error || isPipcacheError(err, 'E_DISK')) throw err;
      const reason = (err as Error).message;
      shared.refuse(sha, reason);
      if (stream) throw new PipcacheError('E_HASH_MISMATCH', `${this.url}: the shared copy was refused (${reason}); the next request goes upstream`, { cause: err });
      await this.writer.abort();
      this.writerNow = this.store.createWriter();
      this.size = null;
      this.source = undefined;
      return false;
    }
  }

  /** Resolves when the download is verified and stored; rejects with its error. */
  async whenFinished(): Promise<void> {
    while (this.state !== 'done' && this.state !== 'failed') {
      await new Promise((resolve) => this.once('state', resolve));
    }
    if (this.state === 'failed') throw this.error ?? new PipcacheError('E_UPSTREAM', `${this.url}: download failed`);
  }

  /** Waits for more bytes or a state change. */
  next(): Promise<void> {
    return new Promise((resolve) => this.once('progress', resolve));
  }
}
