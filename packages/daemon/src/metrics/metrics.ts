import type { UpstreamMode } from '@pipcache/shared';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** What upstream requests are for, as the upstream client labels them. */
export type UpstreamKind = 'page' | 'file';

/** The counters the eviction code increments: one eviction per blob removed to make room. */
export interface EvictionMetrics {
  evictions: Counter;
  bytesEvicted: Counter;
}

/** The figures the metrics read from the rest of the daemon at scrape time. */
export interface MetricsSources {
  /** Downloads running now. */
  downloadsInFlight: () => number;
  /** Bytes and files the store holds, from the catalog (an O(files) scan: cached by StoreSizeCache). */
  storeSize: () => { bytes: number; files: number };
  offline: () => boolean;
  /** The upstream mode: online, team (the team store only) or offline. */
  mode: () => UpstreamMode;
  version: string;
  /** Milliseconds; injected so tests need not wait. */
  now?: () => number;
}

/** A store-size figure is recomputed at most this often while nothing changed... */
const STORE_SIZE_MAX_AGE_MS = 60_000;
/** ...and at most this often after bytes came in from upstream or were evicted. */
const STORE_SIZE_MIN_AGE_MS = 5_000;

/**
 * The store's size for scrapes: the catalog is scanned only when the cached
 * figure is old, or a little old and known to have changed, so frequent
 * scrapes of a large cache cost nothing.
 */
export class StoreSizeCache {
  private figure: { bytes: number; files: number; at: number } | undefined;
  private dirty = false;

  constructor(
    private readonly compute: () => { bytes: number; files: number },
    private readonly now: () => number,
  ) {}

  /** Something was stored or removed: the next scrape after the short interval rescans. */
  changed(): void {
    this.dirty = true;
  }

  get(): { bytes: number; files: number } {
    const now = this.now();
    const age = this.figure ? now - this.figure.at : Infinity;
    if (!this.figure || age >= STORE_SIZE_MAX_AGE_MS || (this.dirty && age >= STORE_SIZE_MIN_AGE_MS)) {
      this.dirty = false;
      this.figure = { ...this.compute(), at: now };
    }
    return { bytes: this.figure.bytes, files: this.figure.files };
  }
}

/**
 * The daemon's Prometheus metrics, on a registry of its own (several daemons
 * in one process, as in tests, do not share series). Process metrics from
 * prom-client's defaults are left out: they add timers and event-loop hooks
 * for figures the host's own monitoring already has.
 */
export class DaemonMetrics implements EvictionMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'outcome'>;
  readonly bytes: Counter<'source'>;
  readonly fetched: Counter<'source'>;
  readonly upstreamSeconds: Histogram<'kind'>;
  readonly upstreamFailures: Counter<'kind'>;
  readonly evictions: Counter;
  readonly bytesEvicted: Counter;
  readonly storeSize: StoreSizeCache;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    const storeSize = new StoreSizeCache(sources.storeSize, sources.now ?? Date.now);
    this.storeSize = storeSize;
    this.requests = new Counter({
      name: 'pipcache_requests_total',
      help: 'Proxied and index requests answered, by outcome (the X-Pipcache header value)',
      labelNames: ['outcome'],
      registers,
    });
    this.bytes = new Counter({
      name: 'pipcache_response_bytes_total',
      help: 'Response body bytes sent to clients, by where they came from (cache or upstream)',
      labelNames: ['source'],
      registers,
    });
    for (const source of ['cache', 'upstream']) this.bytes.inc({ source }, 0);
    this.fetched = new Counter({
      name: 'pipcache_fetched_bytes_total',
      help: 'Verified bytes stored, by where they came from (upstream or the team store); counts files fetched ahead, which no response carried',
      labelNames: ['source'],
      registers,
    });
    for (const source of ['upstream', 'team']) this.fetched.inc({ source }, 0);
    this.upstreamSeconds = new Histogram({
      name: 'pipcache_upstream_response_seconds',
      help: 'Time from sending an upstream request to its response headers, by kind (page or file)',
      labelNames: ['kind'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.upstreamFailures = new Counter({
      name: 'pipcache_upstream_failures_total',
      help: 'Upstream requests that got no response (connection, TLS or timeout errors), by kind',
      labelNames: ['kind'],
      registers,
    });
    this.evictions = new Counter({ name: 'pipcache_evictions_total', help: 'Stored files evicted to stay under the size limit', registers });
    this.bytesEvicted = new Counter({ name: 'pipcache_evicted_bytes_total', help: 'Bytes of stored files evicted', registers });
    new Gauge({
      name: 'pipcache_downloads_in_flight',
      help: 'Upstream downloads running now',
      registers,
      collect() {
        this.set(sources.downloadsInFlight());
      },
    });
    new Gauge({
      name: 'pipcache_store_bytes',
      help: 'Bytes of stored files, from the catalog (recomputed at most every 5 s after a change, 60 s otherwise)',
      registers,
      collect() {
        this.set(storeSize.get().bytes);
      },
    });
    new Gauge({
      name: 'pipcache_store_files',
      help: 'Stored files, from the catalog (refreshed with pipcache_store_bytes)',
      registers,
      collect() {
        this.set(storeSize.get().files);
      },
    });
    new Gauge({
      name: 'pipcache_offline',
      help: '1 while the daemon is offline',
      registers,
      collect() {
        this.set(sources.offline() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'pipcache_upstream_mode',
      help: '1 for the daemon\'s upstream mode: online, team (the team store only) or offline',
      labelNames: ['mode'],
      registers,
      collect() {
        for (const mode of ['online', 'team', 'offline'] as const) this.set({ mode }, sources.mode() === mode ? 1 : 0);
      },
    });
    new Gauge({ name: 'pipcache_info', help: 'The daemon version', labelNames: ['version'], registers }).set({ version: sources.version }, 1);
  }

  /** One answered request: its outcome and the body bytes it sent from each source. */
  request(outcome: string, fromCache: number, fromUpstream: number): void {
    this.requests.inc({ outcome });
    if (fromCache > 0) this.bytes.inc({ source: 'cache' }, fromCache);
    if (fromUpstream > 0) {
      this.bytes.inc({ source: 'upstream' }, fromUpstream);
      this.storeSize.changed();
    }
  }

  /** One verified file stored, fetched from upstream or the team store (whether or not a client was waiting). */
  stored(source: 'upstream' | 'team', bytes: number): void {
    this.fetched.inc({ source }, bytes);
    this.storeSize.changed();
  }

  /** One upstream request: its time to response headers, or a failure to get any. */
  upstream(kind: UpstreamKind, seconds: number, ok: boolean): void {
    if (ok) this.upstreamSeconds.observe({ kind }, seconds);
    else this.upstreamFailures.inc({ kind });
  }

  /** Called by the eviction code for each blob it removes. */
  evicted(bytes: number): void {
    this.evictions.inc();
    this.bytesEvicted.inc(bytes);
    this.storeSize.changed();
  }

  /** The Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/**
 * Bytes and count of stored archives, summed over catalog records as
 * `pipcache status` does (archives only; metadata blobs are small).
 */
export function storedTotals(records: Iterable<{ stored: boolean; storedSize: number | null; size: number | null }>): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  for (const r of records) {
    if (!r.stored) continue;
    files++;
    bytes += r.storedSize ?? r.size ?? 0;
  }
  return { bytes, files };
}
