import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { FileService } from '../files/file-service.js';
import type { IndexDb } from '../store/index-db.js';
import type { UpstreamClient } from '../upstream/client.js';
import type { RequestContext } from './context.js';
import { passThrough } from './pass-through.js';
import type { PageResponder } from './serve-page.js';
import { sendText } from './send.js';
import type { Stats } from '../stats.js';

export interface RouterDeps {
  db: IndexDb;
  pages: PageResponder;
  files: FileService;
  upstream: UpstreamClient;
  offline: () => boolean;
  log: Logger;
  stats: Stats;
}

const SIMPLE_PAGE = /^\/simple\/([^/]+)\/?$/;

/**
 * Requests for an intercepted index host: simple pages, then files the index
 * knows, then anything else passed through uncached.
 */
export class Router {
  constructor(private readonly deps: RouterDeps) {}

  handle(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const ctx: RequestContext = { req, res, host: url.host, url, outcome: 'bypass', fromCache: 0, fromUpstream: 0 };
    const started = performance.now();
    res.on('close', () => this.finish(ctx, started));
    this.route(ctx).catch((err: Error) => {
      ctx.outcome = 'error';
      ctx.reason = err.message;
      this.deps.log.error({ err }, 'request failed');
      sendText(res, 500, 'pipcache: internal error');
    });
  }

  private async route(ctx: RequestContext): Promise<void> {
    const method = ctx.req.method ?? 'GET';
    const cacheable = method === 'GET' || method === 'HEAD';
    const page = SIMPLE_PAGE.exec(ctx.url.pathname);
    if (cacheable && page?.[1]) {
      let name: string;
      try {
        name = decodeURIComponent(page[1]);
      } catch {
        ctx.outcome = 'refused';
        sendText(ctx.res, 400, 'pipcache: bad project name in URL');
        return;
      }
      await this.deps.pages.serve(ctx, name);
      return;
    }
    if (cacheable) {
      const known = this.deps.db.lookupUrl(`${ctx.url.origin}${ctx.url.pathname}`);
      if (known && (await this.deps.files.serve(ctx, known))) return;
    }
    if (this.deps.offline()) {
      ctx.outcome = 'offline';
      ctx.reason = `not cached: ${ctx.url.href}`;
      sendText(ctx.res, ctx.url.pathname.startsWith('/simple/') ? 404 : 503, `pipcache is offline and does not hold ${ctx.url.pathname}`);
      return;
    }
    await passThrough(ctx, this.deps.upstream);
  }

  private finish(ctx: RequestContext, started: number): void {
    const { stats } = this.deps;
    stats.count(ctx);
    this.deps.log.info(
      {
        method: ctx.req.method,
        host: ctx.host,
        path: ctx.url.pathname,
        cache: ctx.outcome,
        status: ctx.res.statusCode,
        bytes: ctx.fromCache + ctx.fromUpstream,
        ms: Math.round(performance.now() - started),
        ...(ctx.reason ? { reason: ctx.reason } : {}),
        ...(ctx.res.writableFinished ? {} : { aborted: true }),
      },
      'request',
    );
  }
}
