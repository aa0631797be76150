import type { RequestContext } from './context.js';

/** Request counters since the daemon started. */
export class Stats {
  hits = 0;
  misses = 0;
  revalidated = 0;
  stale = 0;
  bytesFromCache = 0;
  bytesFromUpstream = 0;

  count(ctx: RequestContext): void {
    if (ctx.outcome === 'hit' || (ctx.outcome === 'offline' && ctx.fromCache > 0)) this.hits++;
    if (ctx.outcome === 'miss') this.misses++;
    if (ctx.outcome === 'revalidated') this.revalidated++;
    if (ctx.outcome === 'stale') this.stale++;
    this.bytesFromCache += ctx.fromCache;
    this.bytesFromUpstream += ctx.fromUpstream;
  }

  snapshot(): { hits: number; misses: number; revalidated: number; stale: number; bytesFromCache: number; bytesFromUpstream: number } {
    const { hits, misses, revalidated, stale, bytesFromCache, bytesFromUpstream } = this;
    return { hits, misses, revalidated, stale, bytesFromCache, bytesFromUpstream };
  }
}
