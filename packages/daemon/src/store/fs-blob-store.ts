import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { chmod, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PipcacheError } from '@pipcache/shared';
import type { BlobStore, BlobWriter } from './blob-store.js';

const SHA256_RE = /^[0-9a-f]{64}$/;

/**
 * Blobs as files: `blobs/ab/<sha256>`. Writes go to a temp file in
 * the same filesystem, are hashed on the way, fsynced and renamed into place
 * only when the digest matches; readers never see a partial blob.
 */
export class FsBlobStore implements BlobStore {
  constructor(
    private readonly root: string,
    private readonly tmpDir: string,
  ) {}

  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await rm(this.tmpDir, { recursive: true, force: true });
    await mkdir(this.tmpDir, { recursive: true });
  }

  path(sha256: string): string {
    // Plain Error: every caller passes a digest it checked; anything else is a bug.
    if (!SHA256_RE.test(sha256)) throw new Error(`not a sha256 digest: ${sha256}`);
    return join(this.root, sha256.slice(0, 2), sha256);
  }

  async size(sha256: string): Promise<number | null> {
    try {
      return (await stat(this.path(sha256))).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  /**
   * The shard directory of a digest (`blobs/ab/`), created when missing. A
   * new shard's entry in `blobs/` is made durable (fsync of `blobs/`) before
   * anything is renamed into it: otherwise a power cut could lose the whole
   * directory while the index already points at blobs in it.
   */
  async shardDir(sha256: string): Promise<string> {
    const dir = join(this.path(sha256), '..');
    if ((await mkdir(dir, { recursive: true })) !== undefined) await syncDir(this.root);
    return dir;
  }

  createWriter(): BlobWriter {
    return new FsBlobWriter(this, join(this.tmpDir, `${Date.now()}-${randomBytes(6).toString('hex')}.part`));
  }

  async remove(sha256: string): Promise<void> {
    await rm(this.path(sha256), { force: true });
  }
}

async function syncDir(dir: string): Promise<void> {
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

/** A blob written to a temp file in `tmp/`, renamed into `blobs/` once verified. */
class FsBlobWriter implements BlobWriter {
  readonly tmpPath: string;
  private readonly hash: Hash = createHash('sha256');
  private readonly stream: WriteStream;
  private failure: PipcacheError | undefined;
  /** Bytes handed to write() so far. */
  bytes = 0;
  /** Bytes known to be in the temp file (write callbacks fired). */
  flushed = 0;

  constructor(
    private readonly store: FsBlobStore,
    tmpPath: string,
  ) {
    this.tmpPath = tmpPath;
    this.stream = createWriteStream(tmpPath, { flags: 'wx', mode: 0o644 });
    this.stream.on('error', (err) => {
      this.failure ??= new PipcacheError('E_DISK', `cannot write ${tmpPath}: ${err.message}`, { cause: err });
    });
  }

  get error(): PipcacheError | undefined {
    return this.failure;
  }

  write(chunk: Buffer, onFlushed: (flushed: number) => void): boolean {
    if (this.failure) throw this.failure;
    this.hash.update(chunk);
    this.bytes += chunk.length;
    return this.stream.write(chunk, (err) => {
      if (err) return;
      this.flushed += chunk.length;
      onFlushed(this.flushed);
    });
  }

  waitDrain(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onDrain = (): void => {
        this.stream.off('error', onError);
        resolve();
      };
      const onError = (): void => {
        this.stream.off('drain', onDrain);
        reject(this.failure);
      };
      this.stream.once('drain', onDrain);
      this.stream.once('error', onError);
    });
  }

  private async close(): Promise<void> {
    if (this.stream.closed) return;
    await new Promise<void>((resolve, reject) => {
      this.stream.end((err?: Error | null) => (err ? reject(err) : resolve()));
    });
  }

  async commit(expected: string | null): Promise<{ sha256: string; size: number }> {
    await this.close();
    if (this.failure) throw this.failure;
    const sha256 = this.hash.digest('hex');
    if (expected !== null && sha256 !== expected) {
      await this.abort();
      throw new PipcacheError('E_HASH_MISMATCH', `sha256 ${sha256} does not match the index's ${expected}`);
    }
    const fh = await open(this.tmpPath, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    // Read-only: exports hardlink blobs into users' directories, and an edit
    // there must not change what the cache serves.
    await chmod(this.tmpPath, 0o444);
    const dir = await this.store.shardDir(sha256);
    await rename(this.tmpPath, this.store.path(sha256));
    await syncDir(dir);
    return { sha256, size: this.bytes };
  }

  async abort(): Promise<void> {
    this.stream.destroy();
    await rm(this.tmpPath, { force: true });
  }
}
