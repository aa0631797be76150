import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { StatusResult } from '@pipcache/shared';
import type { ControlServices } from './services.js';

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

export function status(s: ControlServices): StatusResult {
  const projects = new Set<string>();
  let files = 0;
  let storedFiles = 0;
  let bytesOnDisk = 0;
  for (const f of s.db.allFiles()) {
    projects.add(f.project);
    files++;
    if (f.stored) {
      storedFiles++;
      bytesOnDisk += f.size ?? 0;
    }
  }
  const { host, port } = s.address();
  return {
    pid: process.pid,
    version: s.version,
    address: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    host,
    port,
    startedAt: s.startedAt.toISOString(),
    uptimeSeconds: Math.round((Date.now() - s.startedAt.getTime()) / 1000),
    offline: s.isOffline(),
    auth: s.config().auth,
    home: s.paths.home,
    index: { projects: projects.size, files, storedFiles, bytesOnDisk, indexBytes: sizeOf(join(s.paths.index, 'data.mdb')) },
    requests: s.stats.snapshot(),
  };
}
