import { createHash } from 'node:crypto';
import { normalizeName, parseArchiveFilename } from '@pipcache/pep';
import { PipcacheError } from '@pipcache/shared';
import type { CoreMetadata, ListedFile, ProjectPage } from '../simple/types.js';
import type { FileRecord, PageRecord } from '../store/catalog.js';
import type { SharedPageWrite } from './shared-pages.js';

/**
 * The JSON document of a project page in the team store
 * (`pages/<origin>/<project>.json`): the parsed listing one daemon got from
 * an index, with the index's validators and the fetch time. Another daemon
 * reads it as untrusted input: every field is checked, and an entry that
 * could point a name at other bytes (a hostile filename, a URL off the
 * configured indexes or not ending in its filename, a missing or malformed
 * sha256) is refused.
 */
export const SHARED_PAGE_FORMAT = 1;

interface SharedFileDoc {
  filename: string;
  url: string;
  sha256: string;
  size: number | null;
  requiresPython?: string;
  yanked: false | string;
  /** PEP 658: false when the index offers none, else the `.metadata` digest (null when it gave none). */
  metadata: false | { sha256: string | null };
  uploadTime?: string;
}

interface SharedPageDoc {
  format: typeof SHARED_PAGE_FORMAT;
  origin: string;
  project: string;
  name: string;
  upstreamUrl: string;
  etag: string | null;
  lastModified: string | null;
  /** When the writer fetched the page from the index (ms since the epoch). */
  fetchedAt: number;
  lastSerial?: number;
  files: SharedFileDoc[];
}

/** A decoded page: what the page service stores like a page from an index. */
export interface SharedPage {
  page: ProjectPage;
  upstreamUrl: string;
  etag: string | null;
  lastModified: string | null;
  fetchedAt: number;
  /** Entries refused, each with its reason (the rest of the page is kept). */
  rejected: string[];
}

const SHA256_RE = /^[0-9a-f]{64}$/;
/** Header values are sent back to the index later (If-None-Match): no control characters. */
const HEADER_VALUE_RE = /^[\x20-\x7e]{0,512}$/;
const TEXT_RE = /^[^\x00-\x1f\x7f]*$/;
const MAX_TEXT = 1024;
/** A writer's clock may run ahead a little; a page from the far future is not believed. */
const FUTURE_SLACK_MS = 24 * 3600 * 1000;

/** The document for a page just stored from an index, with the digest of its listing. Files without a sha256 cannot be shared and are left out. */
export function encodeSharedPage(record: PageRecord, listed: readonly FileRecord[]): SharedPageWrite {
  const files: SharedFileDoc[] = [];
  for (const f of listed) {
    if (f.sha256 === null) continue;
    files.push({
      filename: f.filename,
      url: f.url,
      sha256: f.sha256,
      size: f.size,
      ...(f.requiresPython !== undefined ? { requiresPython: f.requiresPython } : {}),
      yanked: f.yanked,
      metadata: f.coreMetadata === false ? false : { sha256: f.coreMetadata.hashes.sha256 ?? null },
      ...(f.uploadTime !== undefined ? { uploadTime: f.uploadTime } : {}),
    });
  }
  const listing = {
    name: record.name,
    upstreamUrl: record.upstreamUrl,
    etag: record.etag,
    lastModified: record.lastModified,
    ...(record.lastSerial !== undefined ? { lastSerial: record.lastSerial } : {}),
    files,
  };
  const doc: SharedPageDoc = { format: SHARED_PAGE_FORMAT, origin: record.origin, project: record.project, fetchedAt: record.fetchedAt, ...listing };
  return { json: JSON.stringify(doc), listingDigest: createHash('sha256').update(JSON.stringify(listing)).digest('hex') };
}

export interface DecodeContext {
  origin: string;
  project: string;
  /** True when `url` is on a configured index (the gate's `isIndexUrl`). */
  isIndexUrl: (url: URL) => boolean;
  now?: number;
}

function invalid(message: string): PipcacheError {
  return new PipcacheError('E_PAGE_INVALID', `team page: ${message}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function text(v: unknown, max = MAX_TEXT): v is string {
  return typeof v === 'string' && v.length <= max && TEXT_RE.test(v);
}

function count(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** An https (or configured index root) URL on a configured index, with no credentials or fragment in it. */
function indexUrl(v: unknown, ctx: DecodeContext): URL | null {
  if (!text(v, 4096)) return null;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return null;
  }
  if (u.href !== v || u.username || u.password || u.hash) return null;
  return ctx.isIndexUrl(u) ? u : null;
}

/**
 * Decodes a team page document for `ctx.project` on `ctx.origin`. Throws
 * E_PAGE_INVALID when the document as a whole cannot be believed; refuses
 * (and names in `rejected`) single entries that fail their checks.
 */
export function decodeSharedPage(textIn: string, ctx: DecodeContext): SharedPage {
  let raw: unknown;
  try {
    raw = JSON.parse(textIn);
  } catch (err) {
    throw invalid(`not JSON (${(err as Error).message})`);
  }
  if (!isObject(raw)) throw invalid('not an object');
  if (raw.format !== SHARED_PAGE_FORMAT) throw invalid(`unknown format ${JSON.stringify(raw.format)}`);
  if (raw.origin !== ctx.origin) throw invalid(`written for origin ${JSON.stringify(raw.origin)}, read for ${ctx.origin}`);
  if (raw.project !== ctx.project) throw invalid(`written for project ${JSON.stringify(raw.project)}, read for ${ctx.project}`);
  if (!text(raw.name, 200) || normalizeName(raw.name) !== ctx.project) throw invalid(`name ${JSON.stringify(raw.name)} is not project ${ctx.project}`);
  const upstream = indexUrl(raw.upstreamUrl, ctx);
  if (!upstream) throw invalid('upstreamUrl is not a URL on a configured index');
  for (const k of ['etag', 'lastModified'] as const) {
    const v = raw[k];
    if (v !== null && !(typeof v === 'string' && HEADER_VALUE_RE.test(v))) throw invalid(`${k} is not null or a header value`);
  }
  const now = ctx.now ?? Date.now();
  if (!count(raw.fetchedAt) || raw.fetchedAt > now + FUTURE_SLACK_MS) throw invalid('fetchedAt is not a time');
  if (raw.lastSerial !== undefined && !count(raw.lastSerial)) throw invalid('lastSerial is not a count');
  if (!Array.isArray(raw.files)) throw invalid('files is not a list');
  const rejected: string[] = [];
  const files: ListedFile[] = [];
  const seen = new Set<string>();
  for (const [i, entry] of raw.files.entries()) {
    const checked = checkFile(entry, ctx);
    if (typeof checked === 'string') {
      rejected.push(`files[${i}]: ${checked}`);
    } else if (seen.has(checked.filename)) {
      rejected.push(`files[${i}]: ${checked.filename} listed twice`);
    } else {
      seen.add(checked.filename);
      files.push(checked);
    }
  }
  const page: ProjectPage = { name: raw.name, files, ...(raw.lastSerial !== undefined ? { lastSerial: raw.lastSerial as number } : {}) };
  return {
    page,
    upstreamUrl: upstream.href,
    etag: raw.etag as string | null,
    lastModified: raw.lastModified as string | null,
    fetchedAt: raw.fetchedAt,
    rejected,
  };
}

/** One listed file, or why it is refused. */
function checkFile(entry: unknown, ctx: DecodeContext): ListedFile | string {
  if (!isObject(entry)) return 'not an object';
  const { filename, sha256, size, requiresPython, yanked, metadata, uploadTime } = entry;
  if (typeof filename !== 'string' || !text(filename, 255)) return 'no filename';
  const parsed = parseArchiveFilename(filename, ctx.project);
  if (!parsed || parsed.project !== ctx.project) return `${JSON.stringify(filename)} is not a wheel or sdist of ${ctx.project}`;
  const url = indexUrl(entry.url, ctx);
  if (!url) return `${filename}: its URL is not on a configured index`;
  // The URL names the file: a page must not map another file's URL to its own digest.
  const last = url.pathname.split('/').at(-1) ?? '';
  let lastName: string;
  try {
    lastName = decodeURIComponent(last);
  } catch {
    return `${filename}: its URL does not end in a filename`;
  }
  if (lastName !== filename) return `${filename}: its URL ends in ${JSON.stringify(lastName)}`;
  if (typeof sha256 !== 'string' || !SHA256_RE.test(sha256)) return `${filename}: no valid sha256`;
  if (size !== null && !count(size)) return `${filename}: size is not a count`;
  if (requiresPython !== undefined && !text(requiresPython, 200)) return `${filename}: requiresPython is not a short text`;
  if (yanked !== false && !text(yanked)) return `${filename}: yanked is not false or a reason`;
  if (uploadTime !== undefined && !(typeof uploadTime === 'string' && /^[0-9T:.+Z-]{1,40}$/.test(uploadTime))) return `${filename}: uploadTime is not a time`;
  let coreMetadata: CoreMetadata = false;
  if (metadata !== false) {
    if (!isObject(metadata)) return `${filename}: metadata is not false or an object`;
    const m = metadata.sha256;
    if (m !== null && !(typeof m === 'string' && SHA256_RE.test(m))) return `${filename}: metadata sha256 is not valid`;
    coreMetadata = { hashes: m === null ? {} : { sha256: m } };
  }
  return {
    filename,
    url: url.href,
    hashes: { sha256 },
    ...(typeof requiresPython === 'string' ? { requiresPython } : {}),
    yanked: yanked as false | string,
    coreMetadata,
    ...(size !== null ? { size: size as number } : {}),
    ...(typeof uploadTime === 'string' ? { uploadTime } : {}),
  };
}
