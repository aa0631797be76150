import type { PipcacheError } from '@pipcache/shared';

/**
 * Content-addressed blobs, named by their sha256. A blob is published only
 * whole and verified: readers never see a partial or wrong one under a
 * digest's name. Blobs are local files (`path`): hits are sent from them,
 * exports hardlink them, downloads are followed through the writer's temp file.
 */
export interface BlobStore {
  /** Where the blob of a digest is (or would be); throws on a string that is not a sha256 digest. */
  path(sha256: string): string;
  /** Size of the stored blob, or null when absent. */
  size(sha256: string): Promise<number | null>;
  /** Starts a new blob. */
  createWriter(): BlobWriter;
  /** Removes a blob; nothing happens when it is absent. */
  remove(sha256: string): Promise<void>;
  /** Every blob in the store, in no particular order. */
  list(): AsyncIterable<ListedBlob>;
  /**
   * Removes a listed blob unless it changed since it was listed (published
   * again, linked): true when removed. Garbage collection removes only what
   * it looked at.
   */
  removeListed(blob: ListedBlob): Promise<boolean>;
  /**
   * Removes the temp files of writes that will never finish (a crash, a
   * kill): those of no writer of this store still in flight, and not
   * changed since `changedBefore` (ms since the epoch).
   */
  sweepTemp(changedBefore: number): Promise<Freed>;
}

/** A blob as `list` found it. */
export interface ListedBlob {
  sha256: string;
  size: number;
  /** When the file last changed (written, published, linked), ms since the epoch. */
  changedMs: number;
}

/** What a clean-up removed. */
export interface Freed {
  count: number;
  bytes: number;
}

/**
 * One blob being written: hashed on the way, published under its digest by
 * `commit`, dropped by `abort`. Several writers of the same content may run
 * at once; each publishes the same bytes.
 */
export interface BlobWriter {
  /** The temp file being written (readers may follow it while it grows). */
  readonly tmpPath: string;
  /** Bytes handed to `write` so far. */
  readonly bytes: number;
  /** The first local write failure (a full disk), once there was one. */
  readonly error: PipcacheError | undefined;
  /** Writes a chunk; false when the caller should `waitDrain`. `onFlushed` gets the bytes in the temp file so far. */
  write(chunk: Buffer, onFlushed: (flushed: number) => void): boolean;
  /** Writes several chunks in one system call, without joining them; as `write` otherwise. */
  writev(chunks: readonly Buffer[], onFlushed: (flushed: number) => void): boolean;
  waitDrain(): Promise<void>;
  /**
   * Finishes the blob and publishes it under its digest, when that equals
   * `expected` (any digest when `expected` is null). On a mismatch fails
   * with E_HASH_MISMATCH and leaves nothing behind. `verify` then `publish`.
   */
  commit(expected: string | null): Promise<{ sha256: string; size: number }>;
  /**
   * Finishes writing and checks the digest of every byte written against
   * `expected` (any digest when null), without publishing: the temp file then
   * holds exactly the verified bytes, and readers may be given all of them.
   * On a mismatch fails with E_HASH_MISMATCH and leaves nothing behind.
   */
  verify(expected: string | null): Promise<{ sha256: string; size: number }>;
  /** After `verify`: makes the blob durable and puts it under its digest. */
  publish(): Promise<void>;
  /** Drops the temp file; nothing is published. */
  abort(): Promise<void>;
}
