import { existsSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import type { FileRecord, PageRecord } from './catalog.js';

/*
 * The catalog's layouts and how records of an older one are brought to
 * today's (LmdbCatalog.migrate runs them in one transaction at open).
 */

/**
 * Layout of the catalog. 1: string keys joined with NUL (pages and files);
 * 2: array keys, file records scoped by their index host; 3: that host is
 * the records' `origin` field (it was `index`); 4: file records keep the
 * verified byte count of each stored blob (`storedSize`, `metadataSize`).
 * An older catalog is migrated at open (see `migrate`).
 */
export const SCHEMA_VERSION = 4;
export const SCHEMA_SETTING = 'schemaVersion';
/** The separator of layout 1, kept only to read a catalog written with it. */
export const V1_SEP = '\u0000';

export interface MigrationReport {
  from: number;
  to: number;
  files: number;
  pages: number;
  urls: number;
  /** Records of layout 1 that could not be read back (dropped; their pages are fetched again). */
  dropped: number;
}

/**
 * Moves a catalog kept by an older pipcache at `legacyPath` (the home's
 * `index/`) to `path`, once: called with the home locked, before opening.
 */
export async function adoptLegacyCatalog(legacyPath: string, path: string): Promise<boolean> {
  if (existsSync(path) || !existsSync(legacyPath)) return false;
  await rename(legacyPath, path);
  return true;
}

/** A record of layout 1 or 2 names its host `index`; today it is `origin`. */
export function withOrigin(v: unknown): unknown {
  if (!v || typeof v !== 'object' || !('index' in v) || 'origin' in v) return v;
  const { index, ...rest } = v as Record<string, unknown>;
  return { ...rest, origin: index };
}

/**
 * Layout 4 keeps the verified byte count of each stored blob. Before it, a
 * stored archive's `size` was overwritten with its verified byte count when
 * it was stored (a later page could only set the same value, or none), and
 * a stored `.metadata` blob had `metadataSize` when it was recorded at all.
 * What is not known stays null: hits then skip the size check, as before.
 */
export function withStoredSizes(v: unknown): unknown {
  if (!v || typeof v !== 'object') return v;
  const r = v as Record<string, unknown>;
  const known = (n: unknown): number | null => (typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : null);
  return {
    ...r,
    storedSize: r.stored === true ? (known(r.storedSize) ?? known(r.size)) : null,
    metadataSize: typeof r.metadataStored === 'string' ? known(r.metadataSize) : null,
  };
}

export function isFileRecord(v: unknown): v is FileRecord {
  const r = v as Partial<FileRecord> | null;
  return !!r && typeof r.project === 'string' && typeof r.version === 'string' && typeof r.filename === 'string' && typeof r.origin === 'string';
}

export function isPageRecord(v: unknown): v is PageRecord {
  const r = v as Partial<PageRecord> | null;
  return !!r && typeof r.project === 'string' && typeof r.origin === 'string';
}
