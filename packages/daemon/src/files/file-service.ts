import type { Logger } from 'pino';
import { PipcacheError, indexOfFile, isPipcacheError } from '@pipcache/shared';
import type { BlobStore } from '../store/blob-store.js';
import { recordKey, fileKeyId, type FileKey, type FileRecord, type Catalog, type UrlRecord } from '../store/catalog.js';
import type { UpstreamClient } from '../upstream/client.js';
import type { UpstreamGate } from '../upstream/gate.js';
import { Download } from './download.js';
import { FileLookup, type Found, type PageSource } from './file-lookup.js';
import { SmallBlobCache } from '../store/small-blob-cache.js';
import type { Store } from '../store/store.js';
import type { Leases, Release } from '../store/leases.js';
import type { SharedBlobs } from './shared-blobs.js';
import type { Prefetcher } from './prefetch.js';

/** Blobs up to this size are served from memory once read. */
const SMALL_BLOB_BYTES = 256 * 1024;
const SMALL_BLOB_BUDGET = 64 * 1024 * 1024;
const HIT_FLUSH_MS = 1000;

export interface FileServiceDeps {
  catalog: Catalog;
  blobs: BlobStore;
  upstream: UpstreamClient;
  /** Decides whether a file may be fetched (offline mode, configured indexes). */
  gate: UpstreamGate;
  /** Bound on an archive of unknown size. */
  maxUnknownBytes: () => number;
  log: Logger;
  /** Pages give the sha256 of files requested by URLs no page listed yet. */
  pages: PageSource;
  /** Records stored and damaged blobs (and tells the pages their listing changed). */
  store: Store;
  /** Blobs being served or downloaded, which eviction leaves alone. */
  leases: Leases;
  /** The team tier, asked before upstream on a miss and fed verified upstream downloads; null when none. */
  shared?: SharedBlobs | null;
  /** Archives fetched ahead when their `.metadata` is served; none when absent. */
  prefetch?: Prefetcher;
  /** Told of each verified blob a download stored, and where its bytes came from. */
  onFetched?: (source: 'upstream' | 'team', bytes: number) => void;
}

/** The blob a URL stands for: an archive or its PEP 658 metadata. */
interface Target {
  rec: FileRecord;
  metadata: boolean;
  /** Digest the index promised; null when it gave none. */
  sha256: string | null;
  /** Digest of the stored blob, when stored. */
  stored: string | null;
  filename: string;
  /** Where upstream serves it (PEP 658: the archive URL + `.metadata`). */
  url: string;
  /** Size of the stored blob when the index knows it. */
  size: number | null;
}

/** A stored blob, checked and ready to be served. */
export interface StoredBlob {
  path: string;
  size: number;
  sha256: string;
  filename: string;
  /** The bytes, when small enough to be kept in memory. */
  data: Buffer | null;
}

/** What of a client's request the service needs to decide. */
export interface FileRequest {
  method: string;
  /** The request asks for a byte range. */
  range: boolean;
}

/** What to do with a request for a file the index knows; the caller turns it into a response. */
export type FileDecision =
  /** Serve the stored blob, then `release` it (eviction leaves it alone until then). */
  | { kind: 'hit'; blob: StoredBlob; release: Release }
  /** Follow the (possibly shared) download, which stores the blob under `sha256` once verified; then `release` it. */
  | { kind: 'miss'; download: Download; sha256: string; filename: string; blobPath: string; release: Release }
  /** Not fetched (offline, not a configured index): answer the coded error. */
  | { kind: 'refused'; error: PipcacheError }
  /** Pass the request through uncached (unknown key, no digest to verify against, HEAD / Range on a miss). */
  | { kind: 'pass' };

function targetOf(rec: FileRecord, metadata: boolean): Target {
  if (metadata) {
    const sha = rec.coreMetadata === false ? undefined : rec.coreMetadata.hashes.sha256;
    const size = rec.metadataSize;
    return { rec, metadata, sha256: sha ?? null, stored: rec.metadataStored, filename: `${rec.filename}.metadata`, url: `${rec.url}.metadata`, size };
  }
  return { rec, metadata, sha256: rec.sha256, stored: rec.stored ? rec.sha256 : null, filename: rec.filename, url: rec.url, size: rec.storedSize ?? rec.size };
}

/**
 * Archives and `.metadata` files: hits from the blob store, misses streamed
 * from upstream while they are verified and stored (one download per digest).
 */
export class FileService {
  private readonly downloads = new Map<string, Download>();
  private readonly small = new SmallBlobCache(SMALL_BLOB_BYTES, SMALL_BLOB_BUDGET);
  private hits = new Map<string, { key: FileKey; count: number; last: string }>();
  private hitFlush: NodeJS.Timeout | undefined;
  private readonly lookup: FileLookup;

  constructor(private readonly deps: FileServiceDeps) {
    this.lookup = new FileLookup({
      catalog: deps.catalog,
      pages: deps.pages,
      mayFetch: (root) => deps.gate.refusal('page', root) === null,
      indexOfFile: (url) => {
        const index = indexOfFile(deps.gate.indexes(), url);
        return index && new URL(index.root);
      },
      log: deps.log,
    });
  }

  /** The index entry for a URL on an intercepted host (see FileLookup). */
  find(url: URL): Promise<Found> {
    return this.lookup.byUrl(url);
  }

  /** The index entry for index mode's `/files/<project>/<version>/<filename>`, learnt from the index at `root`. */
  findByName(root: URL, order: readonly string[], f: { project: string; version: string; filename: string; metadata: boolean }): Promise<Found> {
    return this.lookup.byName(root, order, f);
  }

  /**
   * Resolves once every download whose bytes are already verified (and were
   * perhaps sent) is published and recorded: a control request that reads
   * the catalog (offline, ls, status) then sees what clients just received.
   */
  async settled(): Promise<void> {
    const publishing = [...this.downloads.values()].filter((d) => d.complete);
    await Promise.all(publishing.map((d) => d.whenFinished().catch(() => undefined)));
  }

  get activeDownloads(): number {
    return this.downloads.size;
  }

  /** The upstream URL of a known file, for requests this service leaves to a pass-through. */
  upstreamUrl(lookup: UrlRecord): string | undefined {
    const rec = this.deps.catalog.getFile(lookup.key);
    return rec ? targetOf(rec, lookup.metadata).url : undefined;
  }

  /**
   * Decides how to answer a request for a file the index knows: a stored
   * blob that checks out is a hit; a damaged one is removed and the request
   * goes on as a miss; a miss joins or starts the one download of its digest.
   */
  async decide(lookup: UrlRecord, request: FileRequest): Promise<FileDecision> {
    const rec = this.deps.catalog.getFile(lookup.key);
    if (!rec) return { kind: 'pass' };
    const t = targetOf(rec, lookup.metadata);
    // A blob being evicted gives no lease: the request goes on as a miss.
    const release = t.stored ? this.deps.leases.acquire(t.stored) : null;
    if (release) {
      const blob = await this.checkStored(lookup, t).catch((err: unknown) => {
        release();
        throw err;
      });
      if (blob) {
        if (lookup.metadata && request.method === 'GET') this.fetchAhead(rec);
        return { kind: 'hit', blob, release };
      }
      release();
    }
    const publishing = t.sha256 === null ? undefined : this.downloads.get(t.sha256);
    if (!publishing?.complete || request.method !== 'GET' || request.range) {
      // A download whose bytes are all verified is only being published: it
      // is served as it is even offline, since it needs nothing from upstream.
      const refused = this.deps.gate.refusal('file', new URL(t.url));
      if (refused) return { kind: 'refused', error: refused };
    }
    if (t.sha256 === null) return { kind: 'pass' }; // unverifiable: passed through uncached
    if (request.method !== 'GET' || request.range) {
      // Ranges and HEAD on a miss go upstream as they are, and nothing more:
      // a HEAD must not pull the whole file (a GET fills the cache).
      return { kind: 'pass' };
    }
    const download = this.download(t);
    if (lookup.metadata) this.fetchAhead(rec);
    // The follower may open the blob once the download renamed it: held until it is done.
    const follower = this.deps.leases.hold(t.sha256);
    return { kind: 'miss', download, sha256: t.sha256, filename: t.filename, blobPath: this.deps.blobs.path(t.sha256), release: follower };
  }

  /** Offers the archive of a `.metadata` being served to the prefetcher, when it is neither stored nor being fetched and may be. */
  private fetchAhead(rec: FileRecord): void {
    const t = targetOf(rec, false);
    if (!this.deps.prefetch || t.stored || t.sha256 === null || this.downloads.has(t.sha256)) return;
    if (this.deps.gate.refusal('file', new URL(t.url))) return;
    this.deps.prefetch.offer(t.filename, rec.size, () => this.download(t).whenFinished());
  }

  /** The stored blob when it checks out; null (after forgetting a damaged one) when the request is a miss. */
  private async checkStored(lookup: UrlRecord, t: Target): Promise<StoredBlob | null> {
    const stored = t.stored as string;
    const path = this.deps.blobs.path(stored);
    let data: Buffer | null = null;
    let damaged = false;
    try {
      data = await this.small.get(stored, path, t.size);
    } catch (err) {
      damaged = isPipcacheError(err, 'E_HASH_MISMATCH');
    }
    let size = damaged ? null : data ? data.length : await this.deps.blobs.size(stored);
    // Every hit that is not served from memory costs this stat: a blob cut
    // short (or grown) on disk is damage, never served under the full file's ETag.
    if (size !== null && t.size !== null && size !== t.size) {
      this.deps.log.error({ key: lookup.key, sha256: stored, size, expected: t.size }, 'stored blob has the wrong size');
      damaged = true;
      size = null;
    }
    if (size !== null) return { path, size, sha256: stored, filename: t.filename, data };
    if (damaged) await this.forget(lookup, t);
    else this.deps.log.warn({ key: lookup.key, sha256: stored }, 'indexed blob missing on disk; fetching again');
    return null;
  }

  /** Removes a damaged blob and marks it not stored, so the request goes on as a miss. */
  private async forget(lookup: UrlRecord, t: Target): Promise<void> {
    const sha = t.stored as string;
    this.deps.log.error({ key: lookup.key, sha256: sha }, 'stored blob is damaged; removed, fetching again');
    await this.deps.store.forgetDamaged(lookup.key, { metadata: lookup.metadata });
    t.stored = null;
  }

  /**
   * Makes sure a known file is in the blob store (downloading it when online)
   * and returns its blob path. For export and metadata reads; no client involved.
   */
  async ensureStored(lookup: UrlRecord): Promise<string> {
    const rec = this.deps.catalog.getFile(lookup.key);
    if (!rec) throw new PipcacheError('E_NOT_FOUND', `not in the catalog: ${fileKeyId(lookup.key)}`);
    const t = targetOf(rec, lookup.metadata);
    if (t.stored) {
      const size = await this.deps.blobs.size(t.stored);
      if (size !== null && (t.size === null || size === t.size)) return this.deps.blobs.path(t.stored);
      if (size !== null) await this.forget(lookup, t);
    }
    this.deps.gate.checkFetch('file', new URL(t.url));
    if (t.sha256 === null) throw new PipcacheError('E_UPSTREAM', `${t.filename}: the index gives no sha256, so it cannot be cached`);
    await this.download(t).whenFinished();
    return this.deps.blobs.path(t.sha256);
  }

  /**
   * For a blob found damaged outside a request (an export verifying what it
   * wrote): removes it, marks it not stored, and fetches it again. Returns
   * the new blob path; offline, fails with the gate's E_OFFLINE_MISS (the damaged blob
   * is gone either way, so the next attempt online fetches it).
   */
  async replaceDamaged(lookup: UrlRecord): Promise<string> {
    const rec = this.deps.catalog.getFile(lookup.key);
    if (!rec) throw new PipcacheError('E_NOT_FOUND', `not in the catalog: ${fileKeyId(lookup.key)}`);
    const t = targetOf(rec, lookup.metadata);
    if (t.stored) await this.forget(lookup, t);
    return this.ensureStored(lookup);
  }

  /**
   * Counts a served hit on an archive (`.metadata` reads are not counted).
   * Hits are counted in memory and written in one transaction a second, off the hit path.
   */
  recordHit(lookup: UrlRecord): void {
    if (lookup.metadata) return;
    const { key } = lookup;
    const id = fileKeyId(key);
    const entry = this.hits.get(id);
    const last = new Date().toISOString();
    if (entry) {
      entry.count++;
      entry.last = last;
    } else this.hits.set(id, { key, count: 1, last });
    this.hitFlush ??= setTimeout(() => void this.flushHits(), HIT_FLUSH_MS);
  }

  /** Writes the counted hits (also called on stop). */
  async flushHits(): Promise<void> {
    if (this.hitFlush) clearTimeout(this.hitFlush);
    this.hitFlush = undefined;
    if (this.hits.size === 0) return;
    const batch = this.hits;
    this.hits = new Map();
    await this.deps.catalog.addHits(batch.values()).catch((err: Error) => this.deps.log.warn({ err: err.message }, 'could not record hits'));
  }

  private download(t: Target): Download {
    const sha = t.sha256 as string;
    const existing = this.downloads.get(sha);
    if (existing) {
      // Downloads are shared by digest, and the same bytes can stand for
      // another record (the wheels of one release often share one METADATA;
      // one file listed by two indexes): once verified, this one is stored too.
      existing
        .whenFinished()
        .then(
          () => this.markStored(t, sha, existing.size),
          () => undefined, // the shared download logs its own failure
        )
        .catch((err: Error) => this.deps.log.error({ filename: t.filename, err: err.message }, 'could not record a stored file'));
      return existing;
    }
    const dl = new Download(
      t.url,
      sha,
      t.metadata ? null : t.rec.size,
      this.deps.blobs,
      this.deps.upstream,
      this.deps.log,
      (size) => this.markStored(t, sha, size),
      this.deps.maxUnknownBytes(),
      this.deps.gate.upstreamHeaders(new URL(t.url)),
      this.deps.shared ?? null,
    );
    this.downloads.set(sha, dl);
    // Held from the first byte until recorded: eviction never takes a blob
    // being published, and counts the bytes it is about to add.
    const release = this.deps.leases.hold(sha, t.metadata ? 0 : (t.rec.size ?? 0));
    dl.run().finally(() => {
      release();
      this.downloads.delete(sha);
      if (dl.state === 'done' && dl.source && dl.size !== null) this.deps.onFetched?.(dl.source === 'shared' ? 'team' : 'upstream', dl.size);
    });
    return dl;
  }

  private async markStored(t: Target, sha: string, size: number | null): Promise<void> {
    // The size is kept so that every later hit can check it. A finished
    // download always knows it; the blob's own size stands in otherwise.
    const bytes = size ?? (await this.deps.blobs.size(sha));
    if (bytes === null) throw new PipcacheError('E_DISK', `${t.filename}: the verified blob ${sha} is gone from the blob store`);
    await this.deps.store.recordStored(recordKey(t.rec), { metadata: t.metadata }, sha, bytes);
  }
}
