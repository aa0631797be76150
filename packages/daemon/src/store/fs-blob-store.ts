import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createWriteStream, type Stats, type WriteStream } from 'node:fs';
import { chmod, lstat, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PipcacheError } from '@pipcache/shared';
import type { BlobStore, BlobWriter, Freed, ListedBlob } from './blob-store.js';

const SHA256_RE = /^[0-9a-f]{64}$/;
const SHARD_RE = /^[0-9a-f]{2}$/;

/** The later of a file's content and inode change times: a rename, chmod or link moves the latter. */
const changedMs = (st: { ctimeMs: number; mtimeMs: number }): number => Math.max(st.ctimeMs, st.mtimeMs);

/** null for a path that vanished (removed meanwhile); any other failure is thrown. */
async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Names in a directory; none when it is missing or not a directory. */
async function namesIn(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw err;
  }
}

/** Bytes of the files under a directory left in the temp directory. */
async function treeBytes(dir: string): Promise<number> {
  let bytes = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) bytes += (await lstatOrNull(join(e.parentPath, e.name)))?.size ?? 0;
  }
  return bytes;
}

/**
 * Blobs as files: `blobs/ab/<sha256>`. Writes go to a temp file in
 * the same filesystem, are hashed on the way, fsynced and renamed into place
 * only when the digest matches; readers never see a partial blob.
 */
export class FsBlobStore implements BlobStore {
  /** Temp files of writers neither committed nor aborted: never swept. */
  private readonly writing = new Set<string>();

  constructor(
    private readonly root: string,
    private readonly tmpDir: string,
  ) {}

  /** Creates the directories. Temp files a crash left are kept for `sweepTemp`, which says what it freed. */
  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true });
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
    const tmpPath = join(this.tmpDir, `${Date.now()}-${randomBytes(6).toString('hex')}.part`);
    // Registered before the file exists: a sweep can never see it unclaimed.
    this.writing.add(tmpPath);
    return new FsBlobWriter(this, tmpPath);
  }

  /** A writer's temp file is gone (published or dropped). */
  writerDone(tmpPath: string): void {
    this.writing.delete(tmpPath);
  }

  async remove(sha256: string): Promise<void> {
    await rm(this.path(sha256), { force: true });
  }

  async *list(): AsyncIterable<ListedBlob> {
    for (const shard of await namesIn(this.root)) {
      if (!SHARD_RE.test(shard)) continue;
      for (const name of await namesIn(join(this.root, shard))) {
        // Only what this store names: anything else in blobs/ is left alone.
        if (!SHA256_RE.test(name) || !name.startsWith(shard)) continue;
        const st = await lstatOrNull(join(this.root, shard, name));
        if (st?.isFile()) yield { sha256: name, size: st.size, changedMs: changedMs(st) };
      }
    }
  }

  async removeListed(blob: ListedBlob): Promise<boolean> {
    const path = this.path(blob.sha256);
    const st = await lstatOrNull(path);
    if (!st || changedMs(st) !== blob.changedMs) return false;
    await rm(path, { force: true });
    return true;
  }

  async sweepTemp(changedBefore: number): Promise<Freed> {
    const freed: Freed = { count: 0, bytes: 0 };
    for (const name of await namesIn(this.tmpDir)) {
      const path = join(this.tmpDir, name);
      if (this.writing.has(path)) continue;
      const st = await lstatOrNull(path);
      if (!st || changedMs(st) >= changedBefore) continue;
      const bytes = st.isDirectory() ? await treeBytes(path) : st.size;
      await rm(path, { recursive: true, force: true });
      freed.count++;
      freed.bytes += bytes;
    }
    return freed;
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
  private aborted = false;
  /** The digest, once `verify` checked it. */
  private verified: string | undefined;

  constructor(
    private readonly store: FsBlobStore,
    tmpPath: string,
  ) {
    this.tmpPath = tmpPath;
    this.stream = createWriteStream(tmpPath, { flags: 'wx', mode: 0o644, highWaterMark: 8 * 1024 * 1024 });
    this.stream.on('error', (err) => {
      // Writes still queued when the writer is aborted fail: not a disk error.
      if (!this.aborted) this.failed(err);
    });
  }

  /** The first local write failure, kept as E_DISK. */
  private failed(err: Error): PipcacheError {
    this.failure ??= new PipcacheError('E_DISK', `cannot write ${this.tmpPath}: ${err.message}`, { cause: err });
    return this.failure;
  }

  get error(): PipcacheError | undefined {
    return this.failure;
  }

  write(chunk: Buffer, onFlushed: (flushed: number) => void): boolean {
    return this.writev([chunk], onFlushed);
  }

  writev(chunks: readonly Buffer[], onFlushed: (flushed: number) => void): boolean {
    if (this.failure) throw this.failure;
    let length = 0;
    for (const chunk of chunks) {
      this.hash.update(chunk);
      length += chunk.length;
    }
    this.bytes += length;
    // Corked: the stream hands them all to one writev().
    this.stream.cork();
    let more = true;
    chunks.forEach((chunk, i) => {
      const last = i === chunks.length - 1;
      more = this.stream.write(
        chunk,
        last
          ? (err) => {
              if (err) return;
              this.flushed += length;
              onFlushed(this.flushed);
            }
          : undefined,
      );
    });
    this.stream.uncork();
    return more;
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
      // The callback can see a failure before the stream's 'error' event does.
      this.stream.end((err?: Error | null) => (err ? reject(this.failed(err)) : resolve()));
    });
  }

  async commit(expected: string | null): Promise<{ sha256: string; size: number }> {
    const verified = await this.verify(expected);
    await this.publish();
    return verified;
  }

  async verify(expected: string | null): Promise<{ sha256: string; size: number }> {
    await this.close();
    if (this.failure) throw this.failure;
    const sha256 = this.hash.digest('hex');
    if (expected !== null && sha256 !== expected) {
      await this.abort();
      throw new PipcacheError('E_HASH_MISMATCH', `sha256 ${sha256} does not match the index's ${expected}`);
    }
    this.verified = sha256;
    return { sha256, size: this.bytes };
  }

  async publish(): Promise<void> {
    const sha256 = this.verified;
    // Plain Error: publishing what was not verified is a bug, never input.
    if (sha256 === undefined) throw new Error(`publish before verify: ${this.tmpPath}`);
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
    this.store.writerDone(this.tmpPath);
    await syncDir(dir);
  }

  async abort(): Promise<void> {
    this.aborted = true;
    // The file is removed once the stream has closed: a stream still opening
    // would otherwise create it after the removal, and leave it behind.
    if (!this.stream.closed) {
      await new Promise<void>((resolve) => {
        this.stream.once('close', () => resolve());
        this.stream.destroy();
      });
    }
    await rm(this.tmpPath, { force: true });
    this.store.writerDone(this.tmpPath);
  }
}
