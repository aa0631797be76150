import { open, type Database, type RootDatabase } from 'lmdb';
import { PipcacheError } from '@pipcache/shared';
import { SCHEMA_SETTING, SCHEMA_VERSION, V1_SEP, isFileRecord, isPageRecord, withOrigin, withStoredSizes, type MigrationReport } from './catalog-layout.js';
import { fileKeyId, pickByOrigin, recordKey, type Catalog, type FileKey, type FileRecord, type HitCount, type PageRecord, type PinSet, type UrlRecord } from './catalog.js';

/*
 * Every LMDB key with more than one part is an lmdb-js array key (`FileKey`,
 * `PageKey`). Array keys are encoded element by element by ordered-binary,
 * so a part of any length and any content sorts and scans correctly.
 * Joining the parts with a separator character into one string does not:
 * strings of about 64 characters or more (every manylinux wheel with
 * compressed tags) were missing from prefix range scans while point reads
 * still found them.
 */

/**
 * lmdb-js's "Commit failed" rejection, which carries `commitError`, a promise
 * of the cause that nobody else holds; it is marked handled here.
 */
export function isCommitFailure(reason: unknown): reason is Error & { commitError: Promise<unknown> } {
  const pending = (reason as { commitError?: unknown } | null)?.commitError;
  if (!(reason instanceof Error) || !(pending instanceof Promise)) return false;
  pending.catch(() => undefined);
  return true;
}

/** How long a failed write waits for lmdb-js to give the commit's cause. */
const COMMIT_CAUSE_MS = 1000;

/**
 * Every catalog write goes through here. When a commit fails (a full disk),
 * lmdb-js rejects its writes with "Commit failed" and then rejects
 * `commitError`, a promise nobody else holds, with the cause: left
 * unhandled, that would stop the daemon. The cause is taken and the write
 * fails with E_DISK, which the caller handles like any failed write.
 */
async function committed<T>(write: Promise<T>): Promise<T> {
  try {
    return await write;
  } catch (err) {
    if (!isCommitFailure(err)) throw err;
    const pending = err.commitError;
    let timer: NodeJS.Timeout | undefined;
    const cause = await Promise.race([
      pending.then(
        () => undefined,
        (e: unknown) => e,
      ),
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), COMMIT_CAUSE_MS);
      }),
    ]);
    clearTimeout(timer);
    const why = cause instanceof Error ? cause.message : 'commit failed';
    throw new PipcacheError('E_DISK', `the catalog could not be written: ${why}`, { cause: cause ?? err });
  }
}

/** The key of a page record: (origin, normalized project). */
type PageKey = [origin: string, project: string];

function pageKey(origin: string, project: string): PageKey {
  return [origin, project];
}

/**
 * The catalog in LMDB: project -> version -> file records, page validators,
 * URL -> file key, and persistent settings. Values are structured-cloned by
 * lmdb-js (msgpack); writes are transactional.
 */
export class LmdbCatalog implements Catalog {
  private readonly root: RootDatabase;
  private readonly files: Database<FileRecord, FileKey>;
  private readonly pages: Database<PageRecord, PageKey>;
  private readonly urls: Database<UrlRecord, string>;
  private readonly settings: Database<unknown, string>;
  /** Pin set name -> the set. Not part of the layout: a catalog without it simply has no pins. */
  private readonly pins: Database<PinSet, string>;

  constructor(path: string) {
    this.root = open({ path, compression: false, mapSize: 2 * 1024 ** 3 });
    this.files = this.root.openDB<FileRecord, FileKey>({ name: 'files' });
    this.pages = this.root.openDB<PageRecord, PageKey>({ name: 'pages' });
    this.urls = this.root.openDB<UrlRecord, string>({ name: 'urls' });
    this.settings = this.root.openDB<unknown, string>({ name: 'settings' });
    this.pins = this.root.openDB<PinSet, string>({ name: 'pins' });
  }

  /** The layout this catalog was written in (1 for one from before versioning). */
  schemaVersion(): number {
    const v = this.settings.get(SCHEMA_SETTING);
    if (typeof v === 'number') return v;
    // No version recorded: a new, empty catalog is written in today's layout.
    return this.files.getKeysCount() + this.pages.getKeysCount() + this.urls.getKeysCount() === 0 ? SCHEMA_VERSION : 1;
  }

  /**
   * Brings a catalog of an older layout to today's, in one transaction.
   * Every record is read with a full scan (which, unlike layout 1's prefix
   * scans, sees every key), its host field named `origin` (layouts 1 and 2
   * called it `index`), given its stored sizes (see `withStoredSizes`), and
   * written again under an array key. Stored blobs are untouched, so every
   * file stays stored; page validators are kept.
   * Returns null when the catalog is already current.
   */
  async migrate(): Promise<MigrationReport | null> {
    const from = this.schemaVersion();
    if (from === SCHEMA_VERSION) {
      if (this.settings.get(SCHEMA_SETTING) !== SCHEMA_VERSION) await committed(this.settings.put(SCHEMA_SETTING, SCHEMA_VERSION));
      return null;
    }
    if (from > SCHEMA_VERSION) {
      throw new PipcacheError(
        'E_CONFIG_INVALID',
        `the catalog was written by a newer pipcache (layout ${from}, this one knows ${SCHEMA_VERSION}); upgrade pipcache or move the catalog away`,
      );
    }
    const report: MigrationReport = { from, to: SCHEMA_VERSION, files: 0, pages: 0, urls: 0, dropped: 0 };
    await committed(this.root.transaction(() => {
      const files = [...this.files.getRange({})];
      const pages = [...this.pages.getRange({})];
      const urls = [...this.urls.getRange({})];
      for (const { key } of files) this.files.remove(key);
      for (const { key } of pages) this.pages.remove(key);
      for (const { key } of urls) this.urls.remove(key);
      for (const { value: stored } of files) {
        const value = withStoredSizes(withOrigin(stored));
        if (!isFileRecord(value)) {
          report.dropped++;
          continue;
        }
        this.files.put(recordKey(value), value);
        report.files++;
      }
      for (const { value: stored } of pages) {
        const value = withOrigin(stored);
        if (!isPageRecord(value)) {
          report.dropped++;
          continue;
        }
        this.pages.put(pageKey(value.origin, value.project), value);
        report.pages++;
      }
      for (const { key, value } of urls) {
        const old = value as { key?: unknown; metadata?: unknown };
        if (from >= 2) {
          // Array keys already: only records changed.
          this.urls.put(key, value);
          report.urls++;
          continue;
        }
        const parts = typeof old.key === 'string' ? old.key.split(V1_SEP) : null;
        if (typeof key !== 'string' || !parts || parts.length !== 3 || typeof old.metadata !== 'boolean') {
          report.dropped++;
          continue;
        }
        // Layout 1 keyed files without their origin: find the record this URL listed.
        const rec = this.findFile(parts[0] as string, parts[1] as string, parts[2] as string, []);
        if (rec === undefined) {
          report.dropped++;
          continue;
        }
        this.urls.put(key, { key: recordKey(rec), metadata: old.metadata });
        report.urls++;
      }
      this.settings.put(SCHEMA_SETTING, SCHEMA_VERSION);
    }));
    return report;
  }

  getFile(key: FileKey): FileRecord | undefined {
    return this.files.get(key);
  }

  findFile(project: string, version: string, filename: string, order: readonly string[]): FileRecord | undefined {
    const found: FileRecord[] = [];
    for (const { key, value } of this.files.getRange({ start: [project, version, filename] })) {
      if (key[0] !== project || key[1] !== version || key[2] !== filename) break;
      found.push(value);
    }
    return pickByOrigin(found, order);
  }

  projectFiles(project: string): FileRecord[] {
    return [...this.projectEntries(project)].map((e) => e.value);
  }

  /** Every file record of one project, in key order. */
  private *projectEntries(project: string): Iterable<{ key: FileKey; value: FileRecord }> {
    for (const entry of this.files.getRange({ start: [project] })) {
      if (entry.key[0] !== project) return;
      yield entry;
    }
  }

  *allFiles(): Iterable<FileRecord> {
    for (const { value } of this.files.getRange({})) yield value;
  }

  storedProjects(): string[] {
    const out = new Set<string>();
    for (const f of this.allFiles()) if (f.stored) out.add(f.project);
    return [...out].sort();
  }

  lookupUrl(url: string): UrlRecord | undefined {
    return this.urls.get(url);
  }

  getPage(origin: string, project: string): PageRecord | undefined {
    return this.pages.get(pageKey(origin, project));
  }

  async savePage(page: PageRecord, listed: FileRecord[]): Promise<void> {
    await committed(this.root.transaction(() => {
      const seen = new Set<string>();
      for (const rec of listed) {
        const key = recordKey(rec);
        seen.add(fileKeyId(key));
        const old = this.files.get(key);
        const keepStored = !!old && old.stored && old.sha256 === rec.sha256;
        const merged: FileRecord = old
          ? {
              ...rec,
              firstSeen: old.firstSeen,
              lastServed: old.lastServed,
              hits: old.hits,
              stored: keepStored,
              storedSize: keepStored ? old.storedSize : null,
              metadataStored: old.metadataStored,
              metadataSize: old.metadataSize,
              goneUpstream: false,
            }
          : rec;
        this.files.put(key, merged);
        this.urls.put(rec.url, { key, metadata: false });
        if (rec.coreMetadata !== false) this.urls.put(`${rec.url}.metadata`, { key, metadata: true });
      }
      for (const { key, value } of [...this.projectEntries(page.project)]) {
        if (seen.has(fileKeyId(key)) || value.origin !== page.origin) continue;
        if (value.stored) {
          // An imported file was never on the upstream page: not gone, just local.
          if (!value.goneUpstream && !value.imported) this.files.put(key, { ...value, goneUpstream: true });
        } else {
          this.files.remove(key);
        }
      }
      this.pages.put(pageKey(page.origin, page.project), page);
    }));
  }

  async touchPage(origin: string, project: string, fetchedAt: number, maxAge: number): Promise<void> {
    const key = pageKey(origin, project);
    await committed(this.root.transaction(() => {
      const old = this.pages.get(key);
      if (old) this.pages.put(key, { ...old, fetchedAt, maxAge });
    }));
  }

  async updateFile(key: FileKey, update: (rec: FileRecord) => FileRecord): Promise<FileRecord | undefined> {
    let out: FileRecord | undefined;
    await committed(this.root.transaction(() => {
      const old = this.files.get(key);
      if (!old) return;
      out = update(old);
      this.files.put(key, out);
    }));
    return out;
  }

  async addHits(hits: Iterable<HitCount>): Promise<void> {
    await committed(this.root.transaction(() => {
      for (const { key, count, last } of hits) {
        const old = this.files.get(key);
        if (old) this.files.put(key, { ...old, hits: old.hits + count, lastServed: last });
      }
    }));
  }

  async putFile(rec: FileRecord): Promise<void> {
    const key = recordKey(rec);
    await committed(this.root.transaction(() => {
      this.files.put(key, rec);
      this.urls.put(rec.url, { key, metadata: false });
    }));
  }

  getPinSet(name: string): PinSet | undefined {
    return this.pins.get(name);
  }

  *pinSets(): Iterable<PinSet> {
    for (const { value } of this.pins.getRange({})) yield value;
  }

  async putPinSet(set: PinSet): Promise<void> {
    await committed(this.pins.put(set.name, set));
  }

  async removePinSet(name: string): Promise<boolean> {
    return committed(this.root.transaction(() => {
      if (this.pins.get(name) === undefined) return false;
      this.pins.remove(name);
      return true;
    }));
  }

  getSetting<T>(name: string): T | undefined {
    return this.settings.get(name) as T | undefined;
  }

  async setSetting(name: string, value: unknown): Promise<void> {
    await committed(this.settings.put(name, value));
  }

  async close(): Promise<void> {
    await this.root.close();
  }
}
