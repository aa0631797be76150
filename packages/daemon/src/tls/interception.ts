import type { Logger } from 'pino';
import type { HomePaths } from '@pipcache/shared';
import { loadOrCreateCa, rotateCa, type CertificateAuthority } from './ca.js';
import { writeBundle } from './bundle.js';
import { LeafCache } from './leaf-cache.js';
import { canonicalHosts } from './name-constraints.js';

/** The TLS side of interception: the local CA, its leaf certificates and the hosts it permits. */
export interface Interception {
  readonly leafs: LeafCache;
  /** True for a host the current CA permits (and so the proxy terminates TLS for). */
  isIntercepted(host: string): boolean;
  /** Rotates the CA when the configured hosts changed; until it is done, the old hosts stay intercepted. */
  follow(hosts: readonly string[]): void;
}

const CREATED_WHY = {
  new: 'created a new local CA',
  expiring: 'replaced the local CA: it was about to expire',
  constraints: 'rotated the local CA: its name constraints did not match the intercepted hosts',
} as const;

/** Loads (or creates) the local CA for `hosts` and writes the bundle pip trusts. */
export async function startInterception(paths: HomePaths, hosts: readonly string[], extraCaFile: string | undefined, log: Logger): Promise<Interception> {
  let ca = await loadOrCreateCa(paths.caCert, paths.caKey, hosts);
  if (ca.created) log.info({ cert: paths.caCert, permits: ca.hosts }, CREATED_WHY[ca.reason ?? 'new']);
  await writeBundle(paths.bundle, ca.certPem, extraCaFile);
  const leafs = new LeafCache(ca);
  // Hosts intercepted right now: changed only once the CA permits them.
  let intercepted = new Set(ca.hosts);
  let rotation = Promise.resolve();
  return {
    leafs,
    isIntercepted: (host) => intercepted.has(host.toLowerCase()),
    follow(next) {
      rotation = rotation.then(async () => {
        const wanted = canonicalHosts(next);
        if (wanted.join(',') === ca.hosts.join(',')) return;
        try {
          const rotated: CertificateAuthority = await rotateCa(paths.caCert, paths.caKey, wanted);
          await writeBundle(paths.bundle, rotated.certPem, extraCaFile);
          const from = ca.hosts;
          ca = rotated;
          leafs.setCa(rotated);
          intercepted = new Set(rotated.hosts);
          log.info({ cert: paths.caCert, bundle: paths.bundle, from, permits: rotated.hosts }, 'rotated the local CA: the intercepted hosts changed; leaf certificates of the old CA dropped');
        } catch (err) {
          log.error({ err: (err as Error).message, permits: ca.hosts }, 'could not rotate the local CA; intercepting the hosts the current CA permits');
        }
      });
    },
  };
}
