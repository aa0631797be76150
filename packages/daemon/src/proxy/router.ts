import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { defaultIndex, indexUnder, PipcacheError, type IndexSpec } from '@pipcache/shared';
import type { FileService } from '../files/file-service.js';
import type { UpstreamClient } from '../upstream/client.js';
import type { UpstreamGate } from '../upstream/gate.js';
import type { RequestContext } from './context.js';
import { passThrough } from './pass-through.js';
import type { PageResponder } from './serve-page.js';
import { answerError, sendError } from './answer-error.js';
import { serveFile } from './serve-file.js';
import type { Stats } from './stats.js';

export interface RouterDeps {
  /** The configured indexes (index mode serves them), which origin is preferred, and each index's upstream headers. */
  gate: UpstreamGate;
  pages: PageResponder;
  files: FileService;
  upstream: UpstreamClient;
  log: Logger;
  stats: Stats;
  /** Counts each answered request by outcome and bytes by source (the Prometheus series). */
  metrics: { request(outcome: string, fromCache: number, fromUpstream: number): void };
}

/** How long a closed response's handler may take to record its bytes before the request is counted anyway. */
const ROUTE_SETTLE_MS = 2000;
const SIMPLE_PAGE = /^\/simple\/([^/]+)\/?$/;
const LOCAL_FILE = /^\/files\/([^/]+)\/([^/]+)\/([^/]+?)(\.metadata)?$/;
/** Stands in for the daemon's own origin while an index-mode request target is checked. */
const LOCAL_ORIGIN = 'http://pipcache.invalid';
/** Index mode: `/<name>/simple/...` and `/<name>/files/...` for the index of that name. */
const NAMED_INDEX = /^\/([^/]+)(\/(?:simple|files)(?:\/.*)?)$/;
/** A last path segment that names an archive (or its metadata), not a project: files may sit right under an index root. */
const ARCHIVE_SEGMENT = /\.(?:whl|tar\.gz|tgz|tar\.bz2|tar\.xz|zip|egg|exe|msi|rpm|metadata)$/i;

/** The project a proxy-mode request asks the page of: `<root><project>/` on a configured index; null for anything else. */
export function pageRequest(indexes: readonly IndexSpec[], url: URL): { root: URL; rawName: string } | null {
  const index = indexUnder(indexes, url);
  if (!index) return null;
  const root = new URL(index.root);
  const m = /^([^/]+)(\/?)$/.exec(url.pathname.slice(root.pathname.length));
  if (!m?.[1] || (m[2] === '' && ARCHIVE_SEGMENT.test(m[1]))) return null;
  return { root, rawName: m[1] };
}

/** Index mode's URL for a file: relative to `/simple/<project>/`. */
export function localFileUrl(f: { project: string; version: string; filename: string }): string {
  return `../../files/${encodeURIComponent(f.project)}/${encodeURIComponent(f.version)}/${encodeURIComponent(f.filename)}`;
}

function decode(part: string): string | null {
  try {
    return decodeURIComponent(part);
  } catch {
    return null;
  }
}

/**
 * Requests for an intercepted index host: simple pages, then files the index
 * knows or learns from their project's page, then anything else passed
 * through uncached.
 */
export class Router {
  constructor(private readonly deps: RouterDeps) {}

  /** A request for an intercepted host (proxy mode). */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): void {
    this.run(req, res, url, (ctx) => this.route(ctx));
  }

  /** An origin-form request to the daemon itself: index mode, `/simple/` for the default index and `/<name>/simple/` for the others. */
  handleLocal(req: IncomingMessage, res: ServerResponse): void {
    const target = req.url ?? '/';
    let parsed: URL;
    try {
      // The target is appended to a fixed origin, never resolved against
      // it: `//host/...` or `/\\host/...` would name another host.
      parsed = new URL(`${LOCAL_ORIGIN}${target}`);
      if (parsed.origin !== LOCAL_ORIGIN) throw new Error('another origin');
    } catch {
      this.deps.log.warn({ target: target.slice(0, 200) }, 'request refused: bad request target');
      sendError(res, new PipcacheError('E_BAD_REQUEST', 'bad request target'));
      return;
    }
    const indexes = this.deps.gate.indexes();
    const named = NAMED_INDEX.exec(parsed.pathname);
    const byName = named ? indexes.find((i) => i.name === decode(named[1] ?? '')) : undefined;
    const index = byName ?? defaultIndex(indexes);
    const path = byName && named?.[2] ? named[2] : parsed.pathname;
    const url = new URL(`${new URL(index.root).origin}${parsed.pathname}${parsed.search}`);
    this.run(req, res, url, (ctx) => this.routeLocal(ctx, index, path));
  }

  private run(req: IncomingMessage, res: ServerResponse, url: URL, route: (ctx: RequestContext) => Promise<void>): void {
    const ctx: RequestContext = { req, res, host: url.host, url, outcome: 'bypass', fromCache: 0, fromUpstream: 0 };
    const started = performance.now();
    const routed = route(ctx).catch((err: Error) => {
      this.deps.log.error({ err }, 'request failed');
      // A bug: the client learns only that it happened; the log has the error.
      answerError(ctx, new PipcacheError('E_INTERNAL', 'internal error', { cause: err }), { reason: err.message });
    });
    // Counted once the handler has recorded its bytes: a miss sets them after
    // its last await (closing its file), which may come after the response
    // closed. A handler stuck past the response is not waited for long.
    res.on('close', () => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((r) => (timer = setTimeout(r, ROUTE_SETTLE_MS)));
      void Promise.race([routed, late]).then(() => {
        clearTimeout(timer);
        this.finish(ctx, started);
      });
    });
  }

  private async route(ctx: RequestContext): Promise<void> {
    const method = ctx.req.method ?? 'GET';
    const cacheable = method === 'GET' || method === 'HEAD';
    const indexes = this.deps.gate.indexes();
    const page = pageRequest(indexes, ctx.url);
    if (cacheable && page) {
      const name = decode(page.rawName);
      if (name === null) {
        answerError(ctx, new PipcacheError('E_BAD_REQUEST', 'bad project name in URL'));
        return;
      }
      await this.deps.pages.serve(ctx, name, { root: page.root });
      return;
    }
    if (cacheable) {
      const found = await this.deps.files.find(ctx.url);
      if (found.lookup && (await serveFile(ctx, this.deps.files, found.lookup))) return;
      if (found.reason) ctx.reason = found.reason;
    }
    // Under an index root and not an archive: refused as a page is (offline: 404, "no such project").
    const kind = indexUnder(indexes, ctx.url) && !ARCHIVE_SEGMENT.test(ctx.url.pathname) ? 'page' : 'file';
    await passThrough(ctx, this.deps.upstream, kind, this.deps.gate.upstreamHeaders(ctx.url));
  }

  private async routeLocal(ctx: RequestContext, index: IndexSpec, path: string): Promise<void> {
    const method = ctx.req.method ?? 'GET';
    const root = new URL(index.root);
    if (method !== 'GET' && method !== 'HEAD') {
      answerError(ctx, new PipcacheError('E_METHOD_NOT_ALLOWED', 'the index is read-only'));
      return;
    }
    if (path === '/simple/' || path === '/simple') {
      this.deps.pages.serveRoot(ctx);
      return;
    }
    const page = SIMPLE_PAGE.exec(path);
    if (page?.[1]) {
      const name = decode(page[1]);
      if (name === null) {
        answerError(ctx, new PipcacheError('E_BAD_REQUEST', 'bad project name in URL'));
        return;
      }
      await this.deps.pages.serve(ctx, name, { root, mapUrl: localFileUrl, view: 'index' });
      return;
    }
    const file = LOCAL_FILE.exec(path);
    const [project, version, filename] = file ? [file[1], file[2], file[3]].map((p) => decode(p ?? '')) : [];
    if (!file || !project || !version || !filename) {
      answerError(ctx, new PipcacheError('E_NOT_FOUND', `no such path ${ctx.url.pathname}; the indexes are at /simple/ and /<name>/simple/`));
      return;
    }
    const order = [index.origin, ...this.deps.gate.originOrder()];
    const found = await this.deps.files.findByName(root, order, {
      project,
      version,
      filename,
      metadata: file[4] !== undefined,
    });
    const lookup = found.lookup;
    if (lookup && (await serveFile(ctx, this.deps.files, lookup))) return;
    const upstreamUrl = lookup && this.deps.files.upstreamUrl(lookup);
    if (!upstreamUrl) {
      answerError(ctx, new PipcacheError('E_NOT_FOUND', `${filename} is not in the index`), {
        reason: found.reason ?? `not in the catalog: ${project} ${version} ${filename}`,
      });
      return;
    }
    ctx.url = new URL(upstreamUrl);
    await passThrough(ctx, this.deps.upstream, 'file', this.deps.gate.upstreamHeaders(ctx.url), 'drop');
  }

  private finish(ctx: RequestContext, started: number): void {
    const { stats } = this.deps;
    stats.count(ctx);
    this.deps.metrics.request(ctx.outcome, ctx.fromCache, ctx.fromUpstream);
    this.deps.log.info(
      {
        method: ctx.req.method,
        host: ctx.host,
        path: ctx.url.pathname,
        cache: ctx.outcome,
        status: ctx.res.statusCode,
        bytes: ctx.fromCache + ctx.fromUpstream,
        ms: Math.round(performance.now() - started),
        ...(ctx.code ? { code: ctx.code } : {}),
        ...(ctx.reason ? { reason: ctx.reason } : {}),
        ...(ctx.res.writableFinished ? {} : { aborted: true }),
      },
      'request',
    );
  }
}
