import type net from 'node:net';
import { mkdir } from 'node:fs/promises';
import type { Logger } from 'pino';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { configuredMode, interceptedHosts, type Config, type HomePaths } from '@pipcache/shared';
import { startInterception } from './tls/interception.js';
import type { Catalog } from './store/catalog.js';
import type { Evictor } from './store/evictor.js';
import { keepStore } from './store/keeper.js';
import { OfflineSwitch } from './offline-switch.js';
import { UpstreamGate } from './upstream/gate.js';
import { UpstreamCredentials } from './upstream/credentials.js';
import { ClientAccess } from './proxy/access.js';
import { listen } from './proxy/listen.js';
import { UpstreamClient } from './upstream/client.js';
import { chooseUpstreamProxy, DIRECT, type ProxyChoice } from './upstream/proxy-choice.js';
import { upstreamTrust } from './upstream/trust.js';
import { PageService } from './pages/page-service.js';
import { PageResponder } from './proxy/serve-page.js';
import { FileService } from './files/file-service.js';
import { Prefetcher } from './files/prefetch.js';
import { openTeamTier } from './team/open-team.js';
import type { TeamTier } from './team/team-tier.js';
import { Router } from './proxy/router.js';
import { createProxyServer, type ProxyServer } from './proxy/server.js';
import { listenControl } from './control/server.js';
import { controlHandlers } from './control/handlers.js';
import { Stats } from './proxy/stats.js';
import { Monitoring } from './proxy/monitoring.js';
import { DaemonMetrics, storedTotals } from './metrics/metrics.js';
import { createExporter } from './export/export-service.js';
import { createPinner } from './export/pin-service.js';
import { Importer } from './import/importer.js';
import { watchConfig, watchInbox } from './watch.js';
import type { FSWatcher } from 'chokidar';
import { networkInterfaces } from 'node:os';

/** This machine's addresses: a proxy at one of them with the daemon's port is the daemon itself. */
function localAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
}

export const VERSION = '0.1.0';

export interface DaemonOptions {
  config: Config;
  paths: HomePaths;
  logger: Logger;
  /** Extra CA file to put in the bundle (NODE_EXTRA_CA_CERTS). */
  extraCaFile?: string;
  /** Environment for config reloads (PIPCACHE_* overrides keep applying). */
  env?: NodeJS.ProcessEnv;
  /** Called after `stop` finished (main.ts exits the process). */
  onStopped?: () => void;
}

export interface Daemon {
  start(): Promise<{ host: string; port: number }>;
  stop(): Promise<void>;
  readonly address: { host: string; port: number };
}

/** How long `stop` lets in-flight downloads finish before discarding them. */
const STOP_GRACE_MS = 10_000;
/** How long `stop` then waits for the discarded downloads to clean up. */
const DISCARD_WAIT_MS = 3_000;

/**
 * Wires the parts, each built by its own module; nothing listens or opens
 * until `start`.
 */
export function createDaemon(opts: DaemonOptions): Daemon {
  const { paths, logger } = opts;
  let config = opts.config;
  let catalog: Catalog | undefined;
  let upstream: UpstreamClient | undefined;
  let files: FileService | undefined;
  let evictor: Evictor | undefined;
  let team: TeamTier | null = null;
  let proxy: ProxyServer | undefined;
  let control: net.Server | undefined;
  let address = { host: config.host, port: config.port };
  let stopping: Promise<void> | undefined;
  const watchers: FSWatcher[] = [];
  const startedAt = new Date();
  const stats = new Stats();
  let offlineState: OfflineSwitch | undefined;
  const metrics = new DaemonMetrics({
    downloadsInFlight: () => files?.activeDownloads ?? 0,
    storeSize: () => (catalog ? storedTotals(catalog.allFiles()) : { bytes: 0, files: 0 }),
    offline: () => offlineState?.isOn ?? config.offline === true,
    mode: () => offlineState?.mode ?? configuredMode(config.offline),
    version: VERSION,
  });
  // Decided once the listener's port is known: a proxy that is this daemon is ignored.
  let proxyChoice: ProxyChoice = DIRECT;
  const chooseProxy = (): void => {
    const before = JSON.stringify(proxyChoice.notes);
    proxyChoice = chooseUpstreamProxy(config, opts.env ?? {}, { ...address, localAddresses: localAddresses() });
    if (JSON.stringify(proxyChoice.notes) !== before) for (const n of proxyChoice.notes) logger[n.level]({ mod: 'upstream' }, n.msg);
  };

  async function start(): Promise<{ host: string; port: number }> {
    await mkdir(paths.home, { recursive: true, mode: 0o700 });
    const interception = await startInterception(paths, interceptedHosts(config), opts.extraCaFile, logger);
    // Listings change as files are stored, forgotten or evicted; pages exist only once the store is open.
    let pages: PageService | undefined;
    const onListingChanged = (origin: string, project: string): void => {
      pages?.listingChanged(origin, project);
      metrics.storeSize.changed();
    };
    const kept = await keepStore({
      paths,
      maxSize: () => config.maxSize,
      onListingChanged,
      onEvicted: (bytes) => metrics.evicted(bytes),
      log: logger,
    });
    catalog = kept.catalog;
    evictor = kept.evictor;
    const { blobs, store, pins, leases } = kept;
    const offline = new OfflineSwitch(kept.catalog, configuredMode(config.offline), logger);
    offlineState = offline;
    const env = opts.env ?? process.env;
    const credentials = new UpstreamCredentials({ env: () => env, netrcPath: () => env.NETRC ?? join(homedir(), '.netrc') });
    const gate = new UpstreamGate({
      config: () => config,
      offline: () => offline.isOn,
      teamOnly: () => offline.mode === 'team',
      hasTeamStore: () => team !== null,
      credentials,
    });
    upstream = new UpstreamClient({
      config: () => config,
      timeouts: config.upstream,
      gate,
      proxy: () => proxyChoice,
      ca: upstreamTrust(config.caFile, opts.extraCaFile),
      observe: (kind, seconds, ok) => metrics.upstream(kind, seconds, ok),
    });
    const access = new ClientAccess(() => config, await ClientAccess.loadToken(paths.authToken));
    // Changing `shared` takes a restart: the tier is built once, here.
    team = await openTeamTier(config.shared, {
      settings: { get: (name) => kept.catalog.getSetting(name), set: (name, value) => kept.catalog.setSetting(name, value) },
      blobPath: (sha) => blobs.path(sha),
      blobSize: (sha) => blobs.size(sha),
      log: logger.child({ mod: 'team' }),
    });
    pages = new PageService({ catalog: kept.catalog, upstream, config: () => config, gate, log: logger.child({ mod: 'pages' }), shared: team?.pages ?? null });
    team?.start();
    files = new FileService({
      catalog: kept.catalog,
      blobs,
      upstream,
      gate,
      maxUnknownBytes: () => config.limits.unknownFileBytes,
      log: logger.child({ mod: 'files' }),
      pages,
      store,
      leases,
      shared: team,
      prefetch: new Prefetcher(() => config.limits.prefetchBytes, logger.child({ mod: 'files' })),
      onFetched: (source, bytes) => metrics.stored(source, bytes),
    });
    const importer = new Importer({
      catalog: kept.catalog,
      blobs,
      log: logger.child({ mod: 'import' }),
      origin: () => new URL(config.indexUpstream).host,
      onListingChanged,
    });
    const exportDeps = {
      catalog: kept.catalog,
      blobs,
      pages,
      files,
      gate,
      originOrder: () => gate.originOrder(),
      pins,
    };
    const exporter = createExporter(exportDeps);
    const pinner = createPinner(exportDeps);
    const router = new Router({
      pages: new PageResponder(pages, () => config.coreMetadata === 'always'),
      gate,
      files,
      upstream,
      log: logger.child({ mod: 'proxy' }),
      stats,
      metrics,
    });
    const monitoring = new Monitoring({
      metrics,
      version: VERSION,
      isOffline: () => offline.isOn,
      mode: () => offline.mode,
      isStopping: () => stopping !== undefined,
      log: logger.child({ mod: 'proxy' }),
    });
    control = await listenControl(
      paths.socket,
      controlHandlers({
        catalog: kept.catalog,
        blobs,
        stats,
        paths,
        config: () => config,
        version: VERSION,
        startedAt,
        address: () => address,
        isOffline: () => offline.isOn,
        mode: () => offline.mode,
        setMode: (mode) => offline.set(mode),
        stop: () => {
          void stop();
        },
        exporter,
        importer,
        store,
        pins,
        pinner,
        eviction: () => (evictor as Evictor).status(),
        team: () => team?.status(),
      }),
      logger.child({ mod: 'control' }),
      () => files?.settled() ?? Promise.resolve(),
    );
    proxy = createProxyServer({
      router,
      leafs: interception.leafs,
      isIntercepted: (host) => interception.isIntercepted(host),
      access,
      gate,
      limits: () => config.limits,
      local: (req, res) => {
        if (!monitoring.handle(req, res)) router.handleLocal(req, res);
      },
      upstreamProxy: (scheme, host, port) => upstream?.proxyFor(new URL(`${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}/`)) ?? null,
      log: logger.child({ mod: 'proxy' }),
    });
    const listening = await listen(proxy.server, config.host, config.port);
    watchers.push(await watchInbox(paths.inbox, (path, result) => importer.importFile(path, result), logger.child({ mod: 'inbox' })));
    watchers.push(
      await watchConfig(
        paths.config,
        opts.env ?? {},
        (next) => {
          const prev = config;
          config = next;
          interception.follow(interceptedHosts(next));
          if (next.offline !== prev.offline) offline.configChanged(configuredMode(next.offline));
          chooseProxy();
          if (next.maxSize !== prev.maxSize) evictor?.check();
          const restart: string[] = (['port', 'host', 'caFile'] as const).filter((k) => next[k] !== prev[k]);
          if (JSON.stringify(next.shared) !== JSON.stringify(prev.shared)) restart.push('shared');
          logger.info({ offline: offline.isOn, mode: offline.mode, ...(restart.length ? { needsRestart: restart } : {}) }, 'config reloaded');
        },
        logger.child({ mod: 'config' }),
      ),
    );
    address = { host: config.host, port: listening.port };
    chooseProxy();
    const disk = kept.evictor.status();
    logger.info({ ...address, home: paths.home, offline: offline.isOn, mode: offline.mode, maxSize: disk.maxSize, stored: disk.bytes }, 'pipcache daemon listening');
    return address;
  }

  async function waitForDownloads(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (files && files.activeDownloads > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  function stop(): Promise<void> {
    stopping ??= (async () => {
      logger.info('stopping');
      control?.close();
      await Promise.all(watchers.map((w) => w.close()));
      const server = proxy?.server;
      const closed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
      server?.closeIdleConnections();
      await waitForDownloads(STOP_GRACE_MS);
      // Whatever is still downloading is discarded by the upstream teardown (temp files removed).
      await upstream?.close().catch(() => undefined);
      proxy?.closeAll();
      // Let the discarded downloads remove their temp files before the process exits.
      await waitForDownloads(DISCARD_WAIT_MS);
      await closed;
      await files?.flushHits();
      await team?.stop();
      await evictor?.stop();
      await catalog?.close();
      logger.info('stopped');
      opts.onStopped?.();
    })();
    return stopping;
  }

  return {
    start,
    stop,
    get address() {
      return address;
    },
  };
}
