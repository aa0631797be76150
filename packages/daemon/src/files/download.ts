import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { PipcacheError } from '@pipcache/shared';
import type { BlobStore, BlobWriter } from '../store/blob-store.js';
import { header, type UpstreamClient } from '../upstream/client.js';

export type DownloadState = 'starting' | 'running' | 'done' | 'failed';

/**
 * One upstream download, shared by every request for the same content. The
 * body is written to a temp file and hashed; readers follow the temp file but
 * are held one byte short of the end until the digest is verified, so a
 * corrupt or cut-off body never reaches a client complete.
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
  readonly writer: BlobWriter;
  private readonly ready: Promise<void>;

  constructor(
    readonly url: string,
    readonly expectedSha256: string,
    readonly expectedSize: number | null,
    store: BlobStore,
    private readonly upstream: UpstreamClient,
    private readonly log: Logger,
    private readonly onVerified: (size: number) => Promise<void>,
    /** Cap on a body whose size neither upstream nor the index gives (limits.unknownFileBytes). */
    private readonly maxUnknownBytes: number,
    /** Sent upstream with the request (an index's Authorization). */
    private readonly headers: Record<string, string> = {},
  ) {
    super();
    this.setMaxListeners(0);
    this.writer = store.createWriter();
    this.ready = new Promise((resolve) => this.once('state', () => resolve()));
  }

  get tmpPath(): string {
    return this.writer.tmpPath;
  }

  /** Resolves once headers are known (running) or the download failed. */
  whenStarted(): Promise<void> {
    return this.state === 'starting' ? this.ready : Promise.resolve();
  }

  /** Readers may read up to this offset. */
  readable(): number {
    if (this.state === 'done') return this.flushed;
    return Math.max(0, this.flushed - 1);
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
      const onFlushed = (n: number): void => {
        this.flushed = n;
        this.emit('progress');
      };
      for await (const chunk of res.body) {
        if (this.size === null && this.writer.bytes + (chunk as Buffer).length > this.maxUnknownBytes) {
          res.body.destroy();
          throw new PipcacheError('E_LIMIT', `${this.url}: body of unknown size exceeds ${this.maxUnknownBytes} bytes (limits.unknownFileBytes)`);
        }
        if (!this.writer.write(chunk as Buffer, onFlushed)) await this.writer.waitDrain();
      }
      if (this.size !== null && this.writer.bytes !== this.size) {
        throw new PipcacheError('E_TRUNCATED', `${this.url}: got ${this.writer.bytes} of ${this.size} bytes`);
      }
      const { size } = await this.writer.commit(this.expectedSha256);
      this.flushed = size;
      this.size = size;
      await this.onVerified(size);
      this.setState('done');
    } catch (err) {
      await this.writer.abort();
      // A local write failure (a full disk) is ours, not upstream's: say so.
      const e =
        this.writer.error ??
        (err instanceof PipcacheError ? err : new PipcacheError('E_TRUNCATED', `${this.url}: body failed: ${(err as Error).message}`, { cause: err }));
      this.log.error({ url: this.url, code: e.code, err: e.message }, 'download discarded; nothing cached');
      this.fail(e);
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
