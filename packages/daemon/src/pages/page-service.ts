import type { Logger } from 'pino';
import { indexOrigin, PipcacheError } from '@pipcache/shared';
import { parseArchiveFilename } from '@pipcache/pep';
import type { Config } from '@pipcache/shared';
import { parseHtmlPage } from '../simple/parse-html.js';
import { parseJsonPage } from '../simple/parse-json.js';
import type { ListedFile, ProjectPage } from '../simple/types.js';
import type { FileRecord, Catalog, PageRecord } from '../store/catalog.js';
import { header, type UpstreamClient } from '../upstream/client.js';
import { readDecoded } from '../upstream/body.js';
import { SingleFlight } from '../upstream/single-flight.js';
import type { UpstreamGate } from '../upstream/gate.js';
import { maxAgeOf } from './cache-control.js';
import type { SharedPages } from './shared-pages.js';
import { decodeSharedPage, encodeSharedPage, type SharedPage } from './shared-page-format.js';

export type PageOutcome = 'hit' | 'miss' | 'revalidated' | 'stale' | 'offline';

export interface PageResult {
  record: PageRecord | undefined;
  /**
   * Every file of the project that this index host listed (or that is kept).
   * Read on demand: a warm page is served from its rendered copy without it.
   */
  files: () => FileRecord[];
  outcome: PageOutcome;
  /** Changes whenever the listing changes; keys rendered-page caches. */
  revision: number;
  /** Why a stale page was served. */
  reason?: string;
}

const UPSTREAM_ACCEPT = 'application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.1, text/html;q=0.01';
const SHA256_RE = /^[0-9a-f]{64}$/;
/** How long a page fetch may take when a cached copy can be served instead. */
const STALE_FALLBACK_MS = 6_000;

export interface PageServiceDeps {
  catalog: Catalog;
  upstream: UpstreamClient;
  config: () => Config;
  /** Decides whether a page may be fetched (offline mode, configured indexes) and which hosts a listed file may come from. */
  gate: UpstreamGate;
  log: Logger;
  /** The team store's pages: written after each refresh from an index, read in team-only mode; null when none. */
  shared?: SharedPages | null;
}

/** What a stored page says about where and when its listing came from. */
interface Validators {
  etag: string | null;
  lastModified: string | null;
  fetchedAt: number;
  maxAge: number;
}

/**
 * Simple pages: fetched from upstream, parsed into the index, kept fresh per
 * upstream Cache-Control, revalidated with ETag / Last-Modified, and served
 * from the index when upstream fails.
 */
export class PageService {
  private readonly flights = new SingleFlight<PageResult | null>();
  private readonly revisions = new Map<string, number>();

  constructor(private readonly deps: PageServiceDeps) {}

  storedProjects(): string[] {
    return this.deps.catalog.storedProjects();
  }

  revision(origin: string, project: string): number {
    return this.revisions.get(`${origin}/${project}`) ?? 0;
  }

  /** Marks a project's listing as changed (a file got stored, a page saved). */
  listingChanged(origin: string, project: string): void {
    const key = `${origin}/${project}`;
    this.revisions.set(key, (this.revisions.get(key) ?? 0) + 1);
  }

  private listing(origin: string, project: string): FileRecord[] {
    return this.deps.catalog.projectFiles(project).filter((f) => f.origin === origin);
  }

  private result(origin: string, project: string, outcome: PageOutcome, record = this.deps.catalog.getPage(origin, project)): PageResult {
    return {
      record,
      files: () => this.listing(origin, project),
      outcome,
      revision: this.revision(origin, project),
    };
  }

  /**
   * The page of `project` on the index whose simple root is `root` (ending
   * in `/`). Returns null when neither upstream nor the cache knows the
   * project. `revalidate` asks upstream even while the cached page is fresh.
   */
  async get(root: URL, project: string, opts: { revalidate?: boolean } = {}): Promise<PageResult | null> {
    const { catalog } = this.deps;
    const origin = indexOrigin(root);
    const record = catalog.getPage(origin, project);
    const url = new URL(`${encodeURIComponent(project)}/`, root).href;
    const refused = this.deps.gate.refusal('page', new URL(url));
    if (refused?.code === 'E_OFFLINE_MISS') {
      // Offline: what is on disk, and nothing else.
      const files = this.listing(origin, project).filter((f) => f.stored);
      if (files.length === 0) throw new PipcacheError('E_OFFLINE_MISS', `offline: nothing cached for project ${project}`);
      return { record, files: () => files, outcome: 'offline', revision: this.revision(origin, project) };
    }
    if (refused) throw refused;
    if (record && !opts.revalidate && Date.now() < record.fetchedAt + record.maxAge * 1000) {
      return this.result(origin, project, 'hit', record);
    }
    if (this.deps.gate.teamOnly() && this.deps.shared) {
      const shared = this.deps.shared;
      return this.flights.run(`${origin}/${project}`, () => this.fromTeam(shared, origin, project, url, record));
    }
    return this.flights.run(`${origin}/${project}`, () => this.refresh(origin, project, url, record));
  }

  private async refresh(origin: string, project: string, url: string, record: PageRecord | undefined): Promise<PageResult | null> {
    const headers: Record<string, string> = { accept: UPSTREAM_ACCEPT, 'accept-encoding': 'gzip, deflate', ...this.deps.gate.upstreamHeaders(new URL(url)) };
    if (record?.etag) headers['if-none-match'] = record.etag;
    if (record?.lastModified) headers['if-modified-since'] = record.lastModified;
    let status: number;
    // With something cached to fall back on, give up on upstream well before
    // pip's own 15 s read timeout would fail the install.
    const hasFallback = record !== undefined || this.listing(origin, project).some((f) => f.stored);
    const timeoutMs = hasFallback ? STALE_FALLBACK_MS : this.deps.config().upstream.headersMs;
    try {
      const res = await this.deps.upstream.request(url, { kind: 'page', headers, signal: AbortSignal.timeout(timeoutMs) });
      status = res.status;
      if (status === 304 && record) {
        res.body.resume();
        await this.deps.catalog.touchPage(origin, project, Date.now(), this.maxAge(res.headers));
        return this.result(origin, project, 'revalidated');
      }
      if (status === 200) {
        const contentType = header(res.headers, 'content-type') ?? '';
        if (!isPageContentType(contentType)) {
          // pip ignores such answers too (a captive portal, a misconfigured mirror): keep what we have.
          res.body.resume();
          return this.fallback(origin, project, record, `upstream answered 200 with Content-Type ${JSON.stringify(contentType)}`);
        }
        const body = await readDecoded(res, url, this.deps.config().limits.pageBytes);
        const page = this.parse(body, contentType, url, project);
        const validators = {
          etag: header(res.headers, 'etag') ?? null,
          lastModified: header(res.headers, 'last-modified') ?? null,
          fetchedAt: Date.now(),
          maxAge: this.maxAge(res.headers),
        };
        const saved = await this.save(origin, project, url, page, validators);
        this.share(saved.record, saved.listed);
        return this.result(origin, project, 'miss');
      }
      res.body.resume();
    } catch (err) {
      return this.fallback(origin, project, record, err instanceof Error ? err.message : String(err));
    }
    if (status === 404 || status === 410) {
      // The project is gone upstream; what the cache holds of it still installs.
      const kept = this.listing(origin, project).filter((f) => f.stored);
      if (kept.length === 0) return null;
      return this.fallback(origin, project, record, `upstream answered ${status}`);
    }
    return this.fallback(origin, project, record, `upstream answered ${status}`);
  }

  private fallback(origin: string, project: string, record: PageRecord | undefined, reason: string): PageResult {
    const files = this.listing(origin, project);
    if (!record && files.length === 0) {
      throw new PipcacheError('E_UPSTREAM', `${origin}/simple/${project}/: ${reason}`);
    }
    this.deps.log.warn({ origin, project, reason }, 'serving a stale page: upstream failed');
    // Only what the cache can serve: a listed-but-uncached file would fail the install.
    const stored = files.filter((f) => f.stored);
    return { record, files: () => stored, outcome: 'stale', revision: this.revision(origin, project), reason };
  }

  private maxAge(headers: Record<string, string | string[] | undefined>): number {
    const cfg = this.deps.config();
    if (cfg.pageMaxAge !== null) return cfg.pageMaxAge;
    return maxAgeOf(header(headers, 'cache-control')) ?? cfg.defaultPageMaxAge;
  }

  private parse(body: Buffer, contentType: string, url: string, project: string): ProjectPage {
    const json = contentType.toLowerCase().includes('json');
    const { page, rejected } = json ? parseJsonPage(body.toString('utf8'), url) : parseHtmlPage(body.toString('utf8'), url, project);
    if (rejected.length > 0) this.deps.log.warn({ url, rejected: rejected.slice(0, 20) }, 'index page entries rejected');
    return page;
  }

  /**
   * Team-only: the page from the team store, stored locally like a page
   * from the index (so offline mode serves it later). When the store lacks
   * it, cannot answer, or holds a page that does not decode, what is on disk
   * is served, or E_TEAM_MISS when nothing is.
   */
  private async fromTeam(shared: SharedPages, origin: string, project: string, url: string, record: PageRecord | undefined): Promise<PageResult | null> {
    const read = await shared.read(origin, project, this.deps.config().limits.pageBytes);
    let reason = read.kind === 'absent' ? 'the team store has no page for it' : read.kind === 'unavailable' ? `the team store is unavailable (${read.reason})` : '';
    let got: SharedPage | undefined;
    if (read.kind === 'found') {
      try {
        got = decodeSharedPage(read.text, { origin, project, isIndexUrl: (u) => this.deps.gate.isIndexUrl(u) });
      } catch (err) {
        reason = err instanceof Error ? err.message : String(err);
        shared.refused(origin, project, reason);
      }
    }
    if (got) {
      if (got.rejected.length > 0) shared.refused(origin, project, `${got.rejected.length} entries refused: ${got.rejected.slice(0, 5).join('; ')}`);
      // Fresh from now on for the configured page lifetime: the store is asked again after it.
      await this.save(origin, project, url, got.page, { etag: got.etag, lastModified: got.lastModified, fetchedAt: Date.now(), maxAge: this.maxAge({}) });
      shared.used(origin, project);
      return this.result(origin, project, 'miss');
    }
    const stored = this.listing(origin, project).filter((f) => f.stored);
    if (!record && stored.length === 0) throw new PipcacheError('E_TEAM_MISS', `team-only: nothing cached for project ${project}, and ${reason}`);
    this.deps.log.warn({ origin, project, reason }, 'team-only: serving the cached page');
    return { record, files: () => stored, outcome: 'stale', revision: this.revision(origin, project), reason };
  }

  /** Writes a page just fetched from an index to the team store, off the request's path. */
  private share(record: PageRecord, listed: FileRecord[]): void {
    const shared = this.deps.shared;
    if (!shared) return;
    setImmediate(() => {
      try {
        shared.write(record.origin, record.project, encodeSharedPage(record, listed));
      } catch (err) {
        this.deps.log.warn({ origin: record.origin, project: record.project, err: (err as Error).message }, 'could not encode a page for the team store');
      }
    });
  }

  private async save(origin: string, project: string, url: string, page: ProjectPage, v: Validators): Promise<{ record: PageRecord; listed: FileRecord[] }> {
    const now = new Date().toISOString();
    const listed: FileRecord[] = [];
    for (const f of page.files) {
      if (!this.deps.gate.isIndexUrl(new URL(f.url))) {
        this.deps.log.warn({ url, filename: f.filename, fileUrl: f.url }, 'index entry skipped: its URL is not on a configured index');
        continue;
      }
      const rec = toFileRecord(f, project, origin, now);
      if (rec) listed.push(rec);
      else this.deps.log.warn({ url, filename: f.filename }, 'index entry skipped: not a wheel or sdist name');
    }
    const record: PageRecord = {
      project,
      name: page.name,
      origin,
      upstreamUrl: url,
      etag: v.etag,
      lastModified: v.lastModified,
      fetchedAt: v.fetchedAt,
      maxAge: v.maxAge,
      ...(page.lastSerial !== undefined ? { lastSerial: page.lastSerial } : {}),
    };
    await this.deps.catalog.savePage(record, listed);
    this.listingChanged(origin, project);
    return { record, listed };
  }
}

/** The three media types an index page may have (PEP 691); anything else is not a page. */
export function isPageContentType(contentType: string): boolean {
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return type === 'application/vnd.pypi.simple.v1+json' || type === 'application/vnd.pypi.simple.v1+html' || type === 'text/html';
}

export function toFileRecord(f: ListedFile, project: string, origin: string, now: string): FileRecord | null {
  const parsed = parseArchiveFilename(f.filename, project);
  if (!parsed || parsed.project !== project) return null;
  const sha = f.hashes.sha256?.toLowerCase();
  return {
    project,
    version: parsed.version,
    filename: f.filename,
    kind: parsed.kind,
    origin,
    url: withoutUserinfo(f.url),
    sha256: sha && SHA256_RE.test(sha) ? sha : null,
    size: f.size ?? null,
    ...(f.requiresPython ? { requiresPython: f.requiresPython } : {}),
    yanked: f.yanked,
    coreMetadata: f.coreMetadata,
    ...(f.uploadTime ? { uploadTime: f.uploadTime } : {}),
    firstSeen: now,
    lastServed: null,
    hits: 0,
    stored: false,
    storedSize: null,
    metadataStored: null,
    metadataSize: null,
    goneUpstream: false,
  };
}

/** A listed URL without any user name or password in it: records never hold a secret. */
function withoutUserinfo(url: string): string {
  const u = new URL(url);
  if (!u.username && !u.password) return url;
  u.username = '';
  u.password = '';
  return u.href;
}
