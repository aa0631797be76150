import type { Logger } from 'pino';
import { isValidProjectName, normalizeName, parseArchiveFilename } from '@pipcache/pep';
import { indexOrigin } from '@pipcache/shared';
import type { PageResult } from '../pages/page-service.js';
import { fileKey, recordKey, type FileRecord, type Catalog, type UrlRecord } from '../store/catalog.js';

/** What the file service needs of the page service: a project's page, optionally revalidated. */
export interface PageSource {
  get(root: URL, project: string, opts?: { revalidate?: boolean }): Promise<PageResult | null>;
}

export interface FileLookupDeps {
  catalog: Catalog;
  pages: PageSource;
  /** Whether pages may be fetched from the index at this root now (the gate: offline mode, configured indexes). */
  mayFetch: (root: URL) => boolean;
  /** The simple root of the index whose pages list a file at `url` (see `indexOfFile`). */
  indexOfFile: (url: URL) => URL | undefined;
  log: Logger;
}

/**
 * A file URL resolved to its index entry, and why it cannot be cached when
 * it cannot (no entry, or an entry without a sha256: passed through).
 */
export interface Found {
  lookup?: UrlRecord;
  reason?: string;
}

const METADATA_SUFFIX = '.metadata';

/** A project's page as log lines name it: `pypi.org/simple/x/`, the scheme only when it is not https. */
function shownPage(root: URL, project: string): string {
  const page = new URL(`${project}/`, root);
  return page.protocol === 'https:' ? `${page.host}${page.pathname}` : page.href;
}

function lastSegment(pathname: string): string | null {
  const raw = pathname.slice(pathname.lastIndexOf('/') + 1);
  try {
    return decodeURIComponent(raw);
  } catch {
    return null;
  }
}

/**
 * Finds the index entry for a file request. Pages map the URLs they list;
 * a URL no page listed yet (a lock file's direct `name @ https://...` URL)
 * is resolved through the project its filename names: that project's page
 * is fetched from the index the file host belongs to, for the sha256 that
 * the client keeps to itself (pip strips the `#sha256=` fragment, RFC 3986
 * fragments never reach the server). Without a digest there is nothing to
 * verify against, and the caller passes the request through uncached.
 */
export class FileLookup {
  constructor(private readonly deps: FileLookupDeps) {}

  /** Proxy mode: any URL on an intercepted host. */
  async byUrl(url: URL): Promise<Found> {
    const known = this.deps.catalog.lookupUrl(`${url.origin}${url.pathname}`);
    if (known) return { lookup: known };
    const segment = lastSegment(url.pathname);
    if (segment === null) return {};
    const metadata = segment.endsWith(METADATA_SUFFIX);
    const filename = metadata ? segment.slice(0, -METADATA_SUFFIX.length) : segment;
    const parsed = parseArchiveFilename(filename);
    if (!parsed) return {}; // not an archive: nothing to cache
    const root = this.deps.indexOfFile(url);
    if (!root) return {}; // no index lists files here: passed through
    const origin = indexOrigin(root);
    const f = { project: parsed.project, version: parsed.version, filename, metadata };
    return this.listed(root, f, url.href, () => this.deps.catalog.getFile(fileKey(f.project, f.version, filename, origin)));
  }

  /**
   * Index mode: `/files/<project>/<version>/<filename>`, taken from the
   * indexes in `order`, else learnt from the page of the index at `root`.
   */
  async byName(root: URL, order: readonly string[], f: { project: string; version: string; filename: string; metadata: boolean }): Promise<Found> {
    if (!isValidProjectName(f.project)) return { reason: `not a project name: ${JSON.stringify(f.project)}` };
    const project = normalizeName(f.project);
    const known = (): FileRecord | undefined => this.deps.catalog.findFile(project, f.version, f.filename, order);
    return this.listed(root, { ...f, project }, `${project}/${f.version}/${f.filename}`, known);
  }

  private async listed(
    root: URL,
    f: { project: string; version: string; filename: string; metadata: boolean },
    what: string,
    known: () => FileRecord | undefined,
  ): Promise<Found> {
    const origin = indexOrigin(root);
    const find = (rec: FileRecord | undefined): Found | undefined => {
      if (!rec) return undefined;
      const lookup: UrlRecord = { key: recordKey(rec), metadata: f.metadata };
      const digest = f.metadata ? rec.coreMetadata !== false && rec.coreMetadata.hashes.sha256 : rec.sha256;
      const held = f.metadata ? rec.metadataStored !== null : rec.stored;
      if (!digest && !held) return { lookup, ...this.uncached(what, `${rec.origin} gives no sha256 for ${f.filename}${f.metadata ? METADATA_SUFFIX : ''}`) };
      return { lookup };
    };
    const byKey = (): Found | undefined => find(known());
    const cached = byKey();
    if (cached) return cached;
    if (!this.deps.mayFetch(root)) return {};
    let page: PageResult | null;
    try {
      page = await this.deps.pages.get(root, f.project);
      // A page still fresh in the cache may predate the file's upload: ask once more.
      if (page?.outcome === 'hit' && !byKey()) page = await this.deps.pages.get(root, f.project, { revalidate: true });
    } catch (err) {
      return this.uncached(what, `the page of ${f.project} on ${origin} is unavailable: ${(err as Error).message}`);
    }
    if (page === null) return this.uncached(what, `${origin} has no project ${f.project}`);
    const listed = byKey() ?? find(page.files().find((r) => r.filename === f.filename && r.origin === origin));
    if (listed) return listed;
    return this.uncached(
      what,
      page.outcome === 'stale'
        ? `the page of ${f.project} on ${origin} is unavailable (${page.reason ?? 'upstream failed'})`
        : `${shownPage(root, f.project)} does not list ${f.filename}`,
    );
  }

  private uncached(what: string, reason: string): Found {
    this.deps.log.warn({ file: what, reason }, 'no sha256 to verify the file against: not cached');
    return { reason: `uncached: ${reason}` };
  }
}
