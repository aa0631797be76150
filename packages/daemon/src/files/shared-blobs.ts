import type { Readable } from 'node:stream';

/** An object the shared tier holds under a digest. Its bytes are not trusted until hashed. */
export interface SharedBlob {
  body: Readable;
  /** The object's size as the store reports it. */
  size: number | null;
}

/**
 * A second-level cache of verified blobs several daemons share (the team
 * tier). The files room depends only on this, never on how it is stored.
 */
export interface SharedBlobs {
  /**
   * The object named by `sha256`, or null when it is absent or the tier is
   * unavailable. Resolves within the tier's bounded delay.
   */
  get(sha256: string): Promise<SharedBlob | null>;
  /** Queues a blob verified from upstream (now in the local blob store) for upload. */
  put(sha256: string, size: number): void;
  /** An object whose bytes did not hash to its name: logged, and not asked for again for a while. */
  refuse(sha256: string, reason: string): void;
  /** A verified object served from the tier, counted as a hit. */
  served(sha256: string, size: number): void;
}
