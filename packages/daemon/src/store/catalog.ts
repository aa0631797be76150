import type { CoreMetadata, Yanked } from '../simple/types.js';

/** One archive of one project version, as the cache knows it. */
export interface FileRecord {
  project: string;
  version: string;
  filename: string;
  kind: 'wheel' | 'sdist';
  /** Origin: the host of the index page that listed it. */
  origin: string;
  url: string;
  /** From the index page; null when the index gave none. */
  sha256: string | null;
  /** Size of the archive as listings give it: the index's, replaced by the verified size once stored. */
  size: number | null;
  requiresPython?: string;
  yanked: Yanked;
  coreMetadata: CoreMetadata;
  uploadTime?: string;
  firstSeen: string;
  lastServed: string | null;
  hits: number;
  /** The archive blob is in the blob store under `sha256`. */
  stored: boolean;
  /**
   * Byte count of the stored archive blob, as verified when it was written
   * (checked on every hit); null when not stored, or stored by a pipcache
   * that did not keep it and never listed a size.
   */
  storedSize: number | null;
  /** sha256 of the stored `.metadata` blob, when stored. */
  metadataStored: string | null;
  /** Byte count of the stored `.metadata` blob, like `storedSize`. */
  metadataSize: number | null;
  /** The upstream page no longer lists this file. */
  goneUpstream: boolean;
  /** Came in through `pipcache import`, not from an upstream page. */
  imported?: boolean;
}

/** What is kept of one project's upstream page. */
export interface PageRecord {
  project: string;
  /** Name as the index spells it. */
  name: string;
  origin: string;
  upstreamUrl: string;
  etag: string | null;
  lastModified: string | null;
  fetchedAt: number;
  maxAge: number;
  lastSerial?: number;
  versions?: string[];
}

/** What a URL on an intercepted host stands for. */
export interface UrlRecord {
  key: FileKey;
  metadata: boolean;
}

/**
 * The key of a file record: (normalized project, version, filename, origin).
 * Records are scoped by the origin (index host) that listed them, so one index's page can
 * never replace another's record of the same filename.
 */
export type FileKey = [project: string, version: string, filename: string, origin: string];

export function fileKey(project: string, version: string, filename: string, origin: string): FileKey {
  return [project, version, filename, origin];
}

export function recordKey(rec: Pick<FileRecord, 'project' | 'version' | 'filename' | 'origin'>): FileKey {
  return fileKey(rec.project, rec.version, rec.filename, rec.origin);
}

/** A file key as one string, for in-memory maps and messages (never a storage key). */
export function fileKeyId(key: FileKey): string {
  return key.join(' ');
}

/** One file a pin set keeps: its record and the blobs (archive, `.metadata`) behind it. */
export interface PinnedFile {
  key: FileKey;
  /** The archive's digest. */
  sha256: string;
  /** Its byte count (verified when stored, else as listed; 0 when unknown). */
  size: number;
  /** The `.metadata` blob's digest (stored, or promised by the index); null when there is none. */
  metadata: string | null;
  metadataSize: number | null;
}

/**
 * Files a project needs, kept whatever the cache's size: named by an export
 * directory's absolute path, or `spec:<text>` / `file:<path>` for `pipcache pin`.
 */
export interface PinSet {
  name: string;
  /** When the set was first recorded (ISO time); replacing it keeps this. */
  created: string;
  /** When its files were last recorded. */
  updated: string;
  files: PinnedFile[];
}

/** Hits counted for one file since the last write. */
export interface HitCount {
  key: FileKey;
  count: number;
  /** When the last of them was served (ISO time). */
  last: string;
}

/**
 * The records the cache keeps: files by (project, version, filename,
 * origin), the upstream page of each (origin, project), what each known URL
 * stands for, and persistent settings. Reads are synchronous (the daemon
 * reads on every request); every write is one transaction.
 */
export interface Catalog {
  getFile(key: FileKey): FileRecord | undefined;
  /**
   * The record of a file from the first origin in `order` that has one, else
   * from any origin (imports and other indexes, in key order).
   */
  findFile(project: string, version: string, filename: string, order: readonly string[]): FileRecord | undefined;
  /** Every file record of one project (normalized name), of every origin, in key order. */
  projectFiles(project: string): FileRecord[];
  allFiles(): Iterable<FileRecord>;
  /** Normalized names of every project with a stored file, sorted. */
  storedProjects(): string[];
  lookupUrl(url: string): UrlRecord | undefined;
  getPage(origin: string, project: string): PageRecord | undefined;
  /**
   * Replaces a project's listing from a fresh upstream page in one
   * transaction: listed files are upserted (keeping what the cache learnt:
   * hits, first seen, stored blobs while the digest is unchanged), unlisted
   * files of that origin that are stored are kept and marked gone upstream
   * (imported ones just kept), and unlisted files never stored are forgotten.
   * Listed files' URLs (and `.metadata` URLs) map to their records.
   */
  savePage(page: PageRecord, listed: FileRecord[]): Promise<void>;
  /** A revalidated page: new freshness, same content. No-op for an unknown page. */
  touchPage(origin: string, project: string, fetchedAt: number, maxAge: number): Promise<void>;
  /** Rewrites one record in one transaction; undefined (and nothing written) when there is none. */
  updateFile(key: FileKey, update: (rec: FileRecord) => FileRecord): Promise<FileRecord | undefined>;
  /** Adds counted hits in one transaction; unknown keys are skipped. */
  addHits(hits: Iterable<HitCount>): Promise<void>;
  /** Adds a file that no page listed (a direct download, an import); its URL maps to it. */
  putFile(rec: FileRecord): Promise<void>;
  getPinSet(name: string): PinSet | undefined;
  /** Every pin set, in name order. */
  pinSets(): Iterable<PinSet>;
  /** Records a pin set under its name, replacing any of that name, in one transaction. */
  putPinSet(set: PinSet): Promise<void>;
  /** Forgets a pin set; false (and nothing written) when there is none of that name. */
  removePinSet(name: string): Promise<boolean>;
  getSetting<T>(name: string): T | undefined;
  setSetting(name: string, value: unknown): Promise<void>;
  close(): Promise<void>;
}

/** The record from the first origin in `order`, else the first of the rest. */
export function pickByOrigin(records: readonly FileRecord[], order: readonly string[]): FileRecord | undefined {
  for (const origin of order) {
    const hit = records.find((r) => r.origin === origin);
    if (hit) return hit;
  }
  return records[0];
}
