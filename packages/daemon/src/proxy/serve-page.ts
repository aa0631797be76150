import { createHash } from 'node:crypto';
import { PipcacheError } from '@pipcache/shared';
import { normalizeName } from '@pipcache/pep';
import { negotiatePageFormat } from '../simple/accept.js';
import { renderHtml, renderJson } from '../simple/render.js';
import { CONTENT_TYPES, type ListedFile, type PageFormat, type ProjectPage } from '../simple/types.js';
import type { PageResult, PageService } from '../pages/page-service.js';
import type { FileRecord } from '../store/catalog.js';
import { writeHead, type RequestContext } from './context.js';
import { answerError } from './answer-error.js';

/** Rendered pages kept in memory (each is one project in one format). */
const MAX_RENDERED = 2000;

interface Rendered {
  revision: number;
  body: Buffer;
  etag: string;
}

/** Turns the index's view of a project into the page a client gets. */
export function toProjectPage(
  name: string,
  files: FileRecord[],
  opts: { onlyStored: boolean; metadataForStored: boolean; mapUrl?: ((f: FileRecord) => string) | undefined },
): ProjectPage {
  const { onlyStored, mapUrl } = opts;
  const out: ListedFile[] = [];
  for (const f of files) {
    if (onlyStored && !f.stored) continue;
    let coreMetadata = f.coreMetadata;
    if (onlyStored) coreMetadata = f.metadataStored ? { hashes: { sha256: f.metadataStored } } : false;
    if (f.stored && !opts.metadataForStored) coreMetadata = false;
    out.push({
      filename: f.filename,
      url: mapUrl ? mapUrl(f) : f.url,
      hashes: f.sha256 ? { sha256: f.sha256 } : {},
      ...(f.requiresPython ? { requiresPython: f.requiresPython } : {}),
      yanked: f.yanked,
      coreMetadata,
      ...(f.size !== null ? { size: f.size } : {}),
      ...(f.uploadTime ? { uploadTime: f.uploadTime } : {}),
    });
  }
  return { name, files: out };
}

/**
 * `/simple/<project>/` for pip: negotiated format, our own ETag (answering
 * If-None-Match locally), rendered once per listing revision.
 */
export class PageResponder {
  private readonly rendered = new Map<string, Rendered>();

  constructor(
    private readonly pages: PageService,
    private readonly metadataForStored: () => boolean,
  ) {}

  /** `/simple/` in index mode: the projects the cache can serve (PEP 503 / 691 root). */
  serveRoot(ctx: RequestContext): void {
    const format = negotiatePageFormat(ctx.req.headers.accept) ?? 'html';
    const names = this.pages.storedProjects();
    const body =
      format === 'json'
        ? JSON.stringify({ meta: { 'api-version': '1.1' }, projects: names.map((name) => ({ name })) })
        : `<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="1.1"><title>Simple index</title></head><body>\n${names
            .map((n) => `<a href="${encodeURIComponent(n)}/">${n}</a><br />`)
            .join('\n')}\n</body></html>\n`;
    const buf = Buffer.from(body);
    ctx.outcome = 'hit';
    writeHead(ctx, 200, { 'content-type': CONTENT_TYPES[format], 'content-length': buf.length, 'cache-control': 'max-age=60' });
    ctx.res.end(ctx.req.method === 'HEAD' ? undefined : buf);
    ctx.fromCache = ctx.req.method === 'HEAD' ? 0 : buf.length;
  }

  /** The page of `rawName` on the index at `opts.root` (its simple root). */
  async serve(ctx: RequestContext, rawName: string, opts: { root: URL; mapUrl?: (f: FileRecord) => string; view?: string }): Promise<void> {
    const { req, res } = ctx;
    const project = normalizeName(rawName);
    const path = ctx.url.pathname;
    if (rawName !== project || !path.endsWith('/')) {
      ctx.outcome = 'redirect';
      writeHead(ctx, 301, { location: path.replace(/[^/]*\/?$/, `${project}/`), 'content-length': 0 });
      res.end();
      return;
    }
    const format = negotiatePageFormat(req.headers.accept);
    if (format === null) {
      answerError(
        ctx,
        new PipcacheError('E_NOT_ACCEPTABLE', 'acceptable formats are application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html, text/html'),
      );
      return;
    }
    let result: PageResult | null;
    try {
      result = await this.pages.get(opts.root, project);
    } catch (err) {
      answerError(ctx, err, { kind: 'page' });
      return;
    }
    if (result === null) {
      // Upstream answered: the project does not exist there (a miss, not a refusal).
      answerError(ctx, new PipcacheError('E_NOT_FOUND', `project ${project} not found upstream`), { outcome: 'miss' });
      return;
    }
    ctx.outcome = result.outcome;
    if (result.reason) ctx.reason = result.reason;
    const onlyStored = result.outcome === 'offline' || result.outcome === 'stale';
    const page = this.render(opts.root.href, project, format, result, onlyStored, opts);
    const headers = {
      'content-type': CONTENT_TYPES[format],
      etag: page.etag,
      vary: 'Accept, Accept-Encoding',
      'cache-control': `max-age=${result.record?.maxAge ?? 600}, public`,
    };
    const inm = req.headers['if-none-match'];
    if (inm && inm.split(',').some((t) => t.trim().replace(/^W\//, '') === page.etag)) {
      writeHead(ctx, 304, headers);
      res.end();
      return;
    }
    writeHead(ctx, 200, { ...headers, 'content-length': page.body.length });
    res.end(req.method === 'HEAD' ? undefined : page.body);
    ctx.fromCache = req.method === 'HEAD' ? 0 : page.body.length;
  }

  private render(
    root: string,
    project: string,
    format: PageFormat,
    result: PageResult,
    onlyStored: boolean,
    opts: { mapUrl?: (f: FileRecord) => string; view?: string },
  ): Rendered {
    const metadataForStored = this.metadataForStored();
    const key = `${opts.view ?? 'proxy'}\u0000${root}\u0000${project}\u0000${format}\u0000${onlyStored}\u0000${metadataForStored}`;
    const cached = this.rendered.get(key);
    if (cached && cached.revision === result.revision) return cached;
    const page = toProjectPage(result.record?.name ?? project, result.files(), { onlyStored, metadataForStored, mapUrl: opts.mapUrl });
    if (result.record?.lastSerial !== undefined) page.lastSerial = result.record.lastSerial;
    const text = format === 'json' ? renderJson(page) : renderHtml(page);
    const body = Buffer.from(text, 'utf8');
    const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;
    const out = { revision: result.revision, body, etag };
    // A Map iterates in insertion order: dropping the first key evicts the oldest render.
    if (this.rendered.size >= MAX_RENDERED) this.rendered.delete(this.rendered.keys().next().value as string);
    this.rendered.delete(key);
    this.rendered.set(key, out);
    return out;
  }
}
