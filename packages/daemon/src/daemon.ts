import type net from 'node:net';
import { mkdir } from 'node:fs/promises';
import type { Logger } from 'pino';
import { PipcacheError, type Config, type HomePaths } from '@pipcache/shared';
import { loadOrCreateCa, rotateCa, type CertificateAuthority } from './tls/ca.js';
import { canonicalHosts } from './tls/name-constraints.js';
import { LeafCache } from './tls/leaf-cache.js';
import { writeBundle } from './tls/bundle.js';
import { Catalog, adoptLegacyCatalog } from './store/catalog.js';
import { UpstreamGate } from './upstream/gate.js';
import { ClientAccess } from './proxy/access.js';
import { BlobStore } from './store/blob-store.js';
import { UpstreamClient } from './upstream/client.js';
import { PageService } from './pages/page-service.js';
import { PageResponder } from './proxy/serve-page.js';
import { FileService } from './files/file-service.js';
import { Router } from './proxy/router.js';
import { createProxyServer, type ProxyServer } from './proxy/server.js';
import { listenControl } from './control/server.js';
import { controlHandlers } from './control/handlers.js';
import { Stats } from './proxy/stats.js';
import { createExporter } from './control/export.js';
import { Importer } from './files/importer.js';
import { watchConfig, watchInbox } from './watch.js';
import type { FSWatcher } from 'chokidar';

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

/** Wires the parts; nothing listens or opens until `start`. */
export function createDaemon(opts: DaemonOptions): Daemon {
  const { paths, logger } = opts;
  let config = opts.config;
  let catalog: Catalog | undefined;
  let upstream: UpstreamClient | undefined;
  let files: FileService | undefined;
  let proxy: ProxyServer | undefined;
  let control: net.Server | undefined;
  let offline = config.offline;
  let address = { host: config.host, port: config.port };
  let stopping: Promise<void> | undefined;
  const watchers: FSWatcher[] = [];
  const startedAt = new Date();
  const stats = new Stats();

  async function start(): Promise<{ host: string; port: number }> {
    await mkdir(paths.home, { recursive: true, mode: 0o700 });
    const blobs = new BlobStore(paths.blobs, paths.tmp);
    await blobs.init();
    let ca = await loadOrCreateCa(paths.caCert, paths.caKey, config.interceptHosts);
    if (ca.created) {
      const why = { new: 'created a new local CA', expiring: 'replaced the local CA: it was about to expire', constraints: 'rotated the local CA: its name constraints did not match the intercepted hosts' };
      logger.info({ cert: paths.caCert, permits: ca.hosts }, why[ca.reason ?? 'new']);
    }
    await writeBundle(paths.bundle, ca.certPem, opts.extraCaFile);
    const leafs = new LeafCache(ca);
    // Hosts intercepted right now: changed only once the CA permits them.
    let intercepted = new Set(ca.hosts);
    let rotation = Promise.resolve();
    const rotateFor = (hosts: readonly string[]): void => {
      rotation = rotation.then(async () => {
        const wanted = canonicalHosts(hosts);
        if (wanted.join(',') === ca.hosts.join(',')) return;
        try {
          const next: CertificateAuthority = await rotateCa(paths.caCert, paths.caKey, wanted);
          await writeBundle(paths.bundle, next.certPem, opts.extraCaFile);
          const from = ca.hosts;
          ca = next;
          leafs.setCa(next);
          intercepted = new Set(next.hosts);
          logger.info({ cert: paths.caCert, bundle: paths.bundle, from, permits: next.hosts }, 'rotated the local CA: the intercepted hosts changed; leaf certificates of the old CA dropped');
        } catch (err) {
          logger.error({ err: (err as Error).message, permits: ca.hosts }, 'could not rotate the local CA; intercepting the hosts the current CA permits');
        }
      });
    };
    if (await adoptLegacyCatalog(paths.legacyCatalog, paths.catalog)) logger.info({ from: paths.legacyCatalog, to: paths.catalog }, 'moved the catalog to its new directory');
    catalog = new Catalog(paths.catalog);
    const opened = catalog;
    const migrated = await opened.migrate();
    if (migrated) {
      logger.info(
        migrated,
        `migrated the catalog from layout ${migrated.from} to ${migrated.to}: ${migrated.files} files, ${migrated.pages} pages, ${migrated.urls} URLs kept` +
          (migrated.dropped ? `, ${migrated.dropped} unreadable records dropped (their pages are fetched again)` : ''),
      );
    }
    offline = opened.getSetting<boolean>('offline') ?? config.offline;
    const isOffline = (): boolean => offline;
    const gate = new UpstreamGate({ config: () => config, offline: isOffline });
    upstream = new UpstreamClient(() => config.resolve, config.upstream, gate);
    const up = upstream;
    const access = new ClientAccess(() => config, await ClientAccess.loadToken(paths.authToken));
    const pages = new PageService({ catalog: opened, upstream: up, config: () => config, gate, log: logger.child({ mod: 'pages' }) });
    files = new FileService({
      catalog: opened,
      blobs,
      upstream: up,
      gate,
      maxUnknownBytes: () => config.limits.unknownFileBytes,
      log: logger.child({ mod: 'files' }),
      pages,
      onListingChanged: (host, project) => pages.listingChanged(host, project),
    });
    const importer = new Importer({
      catalog: opened,
      blobs,
      log: logger.child({ mod: 'import' }),
      origin: () => new URL(config.indexUpstream).host,
      onListingChanged: (host, project) => pages.listingChanged(host, project),
    });
    const exporter = createExporter({
      catalog: opened,
      blobs,
      pages,
      files,
      gate,
      indexOrigin: () => new URL(config.indexUpstream),
      originOrder: () => gate.originOrder(),
    });
    const router = new Router({
      pages: new PageResponder(pages, () => config.coreMetadata === 'always'),
      indexUpstream: () => new URL(config.indexUpstream),
      originOrder: () => gate.originOrder(),
      files,
      upstream: up,
      log: logger.child({ mod: 'proxy' }),
      stats,
    });
    control = await listenControl(
      paths.socket,
      controlHandlers({
        catalog: opened,
        blobs,
        stats,
        paths,
        config: () => config,
        version: VERSION,
        startedAt,
        address: () => address,
        isOffline,
        setOffline: async (on) => {
          offline = on;
          await opened.setSetting('offline', on);
          logger.info({ offline: on }, on ? 'offline mode on' : 'offline mode off');
        },
        stop: () => {
          void stop();
        },
        exporter,
        importer,
        onListingChanged: (host, project) => pages.listingChanged(host, project),
      }),
      logger.child({ mod: 'control' }),
    );
    proxy = createProxyServer({
      router,
      leafs,
      isIntercepted: (host) => intercepted.has(host.toLowerCase()),
      access,
      gate,
      limits: () => config.limits,
      local: (req, res) => router.handleLocal(req, res),
      log: logger.child({ mod: 'proxy' }),
    });
    const server = proxy.server;
    await new Promise<void>((resolve, reject) => {
      const fail = (err: NodeJS.ErrnoException): void => {
        const why = err.code === 'EADDRINUSE' ? 'the address is in use (another pipcache or another program; try --port)' : err.message;
        reject(new PipcacheError('E_DAEMON_START_FAILED', `cannot listen on ${config.host}:${config.port}: ${why}`, { cause: err }));
      };
      server.once('error', fail);
      server.listen(config.port, config.host, () => {
        server.off('error', fail);
        resolve();
      });
    });
    watchers.push(await watchInbox(paths.inbox, (p, r) => importer.importFile(p, r), logger.child({ mod: 'inbox' })));
    watchers.push(
      await watchConfig(
        paths.config,
        opts.env ?? {},
        (next) => {
          const prev = config;
          config = next;
          rotateFor(next.interceptHosts);
          if (next.offline !== prev.offline) {
            offline = next.offline;
            void opened.setSetting('offline', offline);
          }
          const restart = (['port', 'host'] as const).filter((k) => next[k] !== prev[k]);
          logger.info({ offline, ...(restart.length ? { needsRestart: restart } : {}) }, 'config reloaded');
        },
        logger.child({ mod: 'config' }),
      ),
    );
    const addr = server.address() as net.AddressInfo;
    address = { host: config.host, port: addr.port };
    logger.info({ ...address, home: paths.home, offline }, 'pipcache daemon listening');
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
