import { describe, expect, it } from 'vitest';
import { DaemonMetrics, StoreSizeCache, storedTotals } from './metrics.js';

function sources(over: Partial<ConstructorParameters<typeof DaemonMetrics>[0]> = {}): ConstructorParameters<typeof DaemonMetrics>[0] {
  return { downloadsInFlight: () => 2, storeSize: () => ({ bytes: 1234, files: 3 }), offline: () => false, mode: () => 'team' as const, version: '9.9.9', ...over };
}

/** The value of one sample line of a text exposition, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('DaemonMetrics', () => {
  it('exposes requests by outcome, bytes by source, upstream timings, downloads, store size and evictions', async () => {
    const m = new DaemonMetrics(sources());
    m.request('hit', 100, 0);
    m.request('hit', 50, 0);
    m.request('miss', 0, 700);
    m.upstream('page', 0.2, true);
    m.upstream('file', 1, false);
    m.evicted(4096);
    m.stored('upstream', 300);
    m.stored('team', 20);
    const text = await m.text();
    expect(sample(text, 'pipcache_requests_total{outcome="hit"}')).toBe(2);
    expect(sample(text, 'pipcache_requests_total{outcome="miss"}')).toBe(1);
    expect(sample(text, 'pipcache_response_bytes_total{source="cache"}')).toBe(150);
    expect(sample(text, 'pipcache_response_bytes_total{source="upstream"}')).toBe(700);
    expect(sample(text, 'pipcache_fetched_bytes_total{source="upstream"}')).toBe(300);
    expect(sample(text, 'pipcache_fetched_bytes_total{source="team"}')).toBe(20);
    expect(sample(text, 'pipcache_upstream_response_seconds_count{kind="page"}')).toBe(1);
    expect(sample(text, 'pipcache_upstream_response_seconds_bucket{le="0.25",kind="page"}')).toBe(1);
    expect(sample(text, 'pipcache_upstream_failures_total{kind="file"}')).toBe(1);
    expect(sample(text, 'pipcache_downloads_in_flight')).toBe(2);
    expect(sample(text, 'pipcache_store_bytes')).toBe(1234);
    expect(sample(text, 'pipcache_store_files')).toBe(3);
    expect(sample(text, 'pipcache_evictions_total')).toBe(1);
    expect(sample(text, 'pipcache_evicted_bytes_total')).toBe(4096);
    expect(sample(text, 'pipcache_offline')).toBe(0);
    expect(sample(text, 'pipcache_upstream_mode{mode="team"}')).toBe(1);
    expect(sample(text, 'pipcache_upstream_mode{mode="online"}')).toBe(0);
    expect(sample(text, 'pipcache_info{version="9.9.9"}')).toBe(1);
    expect(text).not.toMatch(/^process_|^nodejs_/m);
    expect(m.contentType).toMatch(/^text\/plain/);
  });

  it('keeps each daemon\'s series on its own registry', async () => {
    const a = new DaemonMetrics(sources());
    const b = new DaemonMetrics(sources());
    a.request('hit', 1, 0);
    expect(sample(await a.text(), 'pipcache_requests_total{outcome="hit"}')).toBe(1);
    expect(sample(await b.text(), 'pipcache_requests_total{outcome="hit"}')).toBeUndefined();
  });
});

describe('StoreSizeCache', () => {
  it('scans once per minute, or once per 5 s after a change, however often it is read', () => {
    let now = 0;
    let scans = 0;
    const cache = new StoreSizeCache(() => ({ bytes: ++scans * 10, files: scans }), () => now);
    expect(cache.get().bytes).toBe(10);
    now = 1000;
    for (let i = 0; i < 100; i++) cache.get();
    expect(scans).toBe(1);
    cache.changed();
    expect(cache.get().bytes).toBe(10);
    now = 5000;
    expect(cache.get().bytes).toBe(20);
    now = 30_000;
    expect(cache.get().bytes).toBe(20);
    now = 65_000;
    expect(cache.get().bytes).toBe(30);
  });

  it('sums stored archives only', () => {
    expect(
      storedTotals([
        { stored: true, storedSize: 10, size: 99 },
        { stored: true, storedSize: null, size: 5 },
        { stored: false, storedSize: null, size: 1000 },
      ]),
    ).toEqual({ bytes: 15, files: 2 });
  });
});
