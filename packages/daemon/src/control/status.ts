import { statSync } from 'node:fs';
import { join } from 'node:path';
import { interceptedHosts, type StatusResult } from '@pipcache/shared';
import type { ControlServices } from './services.js';

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

export function status(services: ControlServices): StatusResult {
  const projects = new Set<string>();
  let files = 0;
  let storedFiles = 0;
  let bytesOnDisk = 0;
  for (const f of services.catalog.allFiles()) {
    projects.add(f.project);
    files++;
    if (f.stored) {
      storedFiles++;
      bytesOnDisk += f.storedSize ?? f.size ?? 0;
    }
  }
  const { host, port } = services.address();
  const requests = services.stats.snapshot();
  const eviction = services.eviction();
  const served = requests.hits + requests.misses;
  const team = services.team?.();
  return {
    pid: process.pid,
    version: services.version,
    address: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    host,
    port,
    startedAt: services.startedAt.toISOString(),
    uptimeSeconds: Math.round((Date.now() - services.startedAt.getTime()) / 1000),
    offline: services.isOffline(),
    mode: services.mode(),
    auth: services.config().auth,
    home: services.paths.home,
    interceptHosts: interceptedHosts(services.config()),
    indexUpstream: services.config().indexUpstream,
    catalog: { projects: projects.size, files, storedFiles, bytesOnDisk, catalogBytes: sizeOf(join(services.paths.catalog, 'data.mdb')) },
    requests,
    disk: {
      ...eviction,
      maxSizeDefault: services.config().maxSize === null,
      hitRate: served > 0 ? requests.hits / served : null,
    },
    ...(team ? { team } : {}),
  };
}
