import { open, type Database, type RootDatabase } from 'lmdb';
import type { CoreMetadata, Yanked } from '../index/types.js';

/** One archive of one project version, as the cache knows it. */
export interface FileRecord {
  project: string;
  version: string;
  filename: string;
  kind: 'wheel' | 'sdist';
  /** Host of the index page that listed it. */
  index: string;
  url: string;
  /** From the index page; null when the index gave none. */
  sha256: string | null;
  size: number | null;
  requiresPython?: string;
  yanked: Yanked;
  coreMetadata: CoreMetadata;
  uploadTime?: string;
  firstSeen: string;
  lastServed: string | null;
  hits: number;
  /** The archive blob is on disk under `sha256`. */
  stored: boolean;
  /** sha256 of the stored `.metadata` blob, when stored. */
  metadataStored: string | null;
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
  index: string;
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
  key: string;
  metadata: boolean;
}

const SEP = '\u0000';

export function fileKey(project: string, version: string, filename: string): string {
  return `${project}${SEP}${version}${SEP}${filename}`;
}

/**
 * The LMDB index: project -> version -> file records, page validators,
 * URL -> file key, and persistent settings. Values are structured-cloned by
 * lmdb-js (msgpack); writes are transactional.
 */
export class IndexDb {
  private readonly root: RootDatabase;
  private readonly files: Database<FileRecord, string>;
  private readonly pages: Database<PageRecord, string>;
  private readonly urls: Database<UrlRecord, string>;
  private readonly settings: Database<unknown, string>;

  constructor(path: string) {
    this.root = open({ path, compression: false, mapSize: 2 * 1024 ** 3 });
    this.files = this.root.openDB<FileRecord, string>({ name: 'files' });
    this.pages = this.root.openDB<PageRecord, string>({ name: 'pages' });
    this.urls = this.root.openDB<UrlRecord, string>({ name: 'urls' });
    this.settings = this.root.openDB<unknown, string>({ name: 'settings' });
  }

  getFile(key: string): FileRecord | undefined {
    return this.files.get(key);
  }

  projectFiles(project: string): FileRecord[] {
    const out: FileRecord[] = [];
    for (const { value } of this.files.getRange({ start: `${project}${SEP}`, end: `${project}${SEP}\uffff` })) {
      out.push(value);
    }
    return out;
  }

  *allFiles(): Iterable<FileRecord> {
    for (const { value } of this.files.getRange({})) yield value;
  }

  /** Normalized names of every project with a stored file. */
  storedProjects(): string[] {
    const out = new Set<string>();
    for (const f of this.allFiles()) if (f.stored) out.add(f.project);
    return [...out].sort();
  }

  lookupUrl(url: string): UrlRecord | undefined {
    return this.urls.get(url);
  }

  getPage(index: string, project: string): PageRecord | undefined {
    return this.pages.get(`${index}${SEP}${project}`);
  }

  /**
   * Replaces a project's listing from a fresh upstream page in one
   * transaction: listed files are upserted (keeping what the cache learnt),
   * unlisted files that are stored are kept and marked gone upstream, and
   * unlisted files that never were stored are forgotten.
   */
  async savePage(page: PageRecord, listed: FileRecord[]): Promise<void> {
    await this.root.transaction(() => {
      const seen = new Set<string>();
      for (const rec of listed) {
        const key = fileKey(rec.project, rec.version, rec.filename);
        seen.add(key);
        const old = this.files.get(key);
        const merged: FileRecord = old
          ? {
              ...rec,
              firstSeen: old.firstSeen,
              lastServed: old.lastServed,
              hits: old.hits,
              stored: old.stored && old.sha256 === rec.sha256,
              metadataStored: old.metadataStored,
              goneUpstream: false,
            }
          : rec;
        this.files.put(key, merged);
        this.urls.put(rec.url, { key, metadata: false });
        if (rec.coreMetadata !== false) this.urls.put(`${rec.url}.metadata`, { key, metadata: true });
      }
      for (const { key, value } of this.files.getRange({ start: `${page.project}${SEP}`, end: `${page.project}${SEP}\uffff` })) {
        if (seen.has(key) || value.index !== page.index) continue;
        if (value.stored) {
          // An imported file was never on the upstream page: not gone, just local.
          if (!value.goneUpstream && !value.imported) this.files.put(key, { ...value, goneUpstream: true });
        } else {
          this.files.remove(key);
        }
      }
      this.pages.put(`${page.index}${SEP}${page.project}`, page);
    });
  }

  async touchPage(index: string, project: string, fetchedAt: number, maxAge: number): Promise<void> {
    const key = `${index}${SEP}${project}`;
    await this.root.transaction(() => {
      const old = this.pages.get(key);
      if (old) this.pages.put(key, { ...old, fetchedAt, maxAge });
    });
  }

  async updateFile(key: string, update: (rec: FileRecord) => FileRecord): Promise<FileRecord | undefined> {
    let out: FileRecord | undefined;
    await this.root.transaction(() => {
      const old = this.files.get(key);
      if (!old) return;
      out = update(old);
      this.files.put(key, out);
    });
    return out;
  }

  /** Adds counted hits in one transaction: key -> how many, and when the last was served. */
  async addHits(hits: Map<string, { count: number; last: string }>): Promise<void> {
    await this.root.transaction(() => {
      for (const [key, { count, last }] of hits) {
        const old = this.files.get(key);
        if (old) this.files.put(key, { ...old, hits: old.hits + count, lastServed: last });
      }
    });
  }

  /** Adds a file that no page listed (a direct download, an import). */
  async putFile(rec: FileRecord): Promise<void> {
    const key = fileKey(rec.project, rec.version, rec.filename);
    await this.root.transaction(() => {
      this.files.put(key, rec);
      this.urls.put(rec.url, { key, metadata: false });
    });
  }

  getSetting<T>(name: string): T | undefined {
    return this.settings.get(name) as T | undefined;
  }

  async setSetting(name: string, value: unknown): Promise<void> {
    await this.settings.put(name, value);
  }

  async close(): Promise<void> {
    await this.root.close();
  }
}
