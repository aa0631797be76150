import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * Where all state lives. PIPCACHE_HOME wins; otherwise the XDG cache
 * directory (`$XDG_CACHE_HOME/pipcache`, default `~/.cache/pipcache`).
 */
export function resolveHome(env: NodeJS.ProcessEnv): string {
  if (env.PIPCACHE_HOME) return resolve(env.PIPCACHE_HOME);
  const xdg = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.startsWith('/') ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(xdg, 'pipcache');
}

export interface HomePaths {
  home: string;
  config: string;
  socket: string;
  pidFile: string;
  logFile: string;
  caDir: string;
  caCert: string;
  caKey: string;
  bundle: string;
  /** The LMDB catalog of pages and files. */
  catalog: string;
  /** Where a pipcache before layout 3 kept the catalog; moved to `catalog` at start. */
  legacyCatalog: string;
  blobs: string;
  tmp: string;
  inbox: string;
  /** The token clients present when `auth` is on (mode 0600). */
  authToken: string;
}

export function homePaths(home: string): HomePaths {
  return {
    home,
    config: join(home, 'config.json'),
    socket: join(home, 'daemon.sock'),
    pidFile: join(home, 'daemon.json'),
    logFile: join(home, 'logs', 'daemon.log'),
    caDir: join(home, 'ca'),
    caCert: join(home, 'ca', 'ca.pem'),
    caKey: join(home, 'ca', 'ca-key.pem'),
    bundle: join(home, 'ca', 'bundle.pem'),
    catalog: join(home, 'catalog'),
    legacyCatalog: join(home, 'index'),
    blobs: join(home, 'blobs'),
    tmp: join(home, 'tmp'),
    inbox: join(home, 'inbox'),
    authToken: join(home, 'auth-token'),
  };
}
