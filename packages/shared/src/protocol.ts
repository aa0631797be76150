/**
 * CLI <-> daemon messages: one JSON object per line over the unix socket
 * `$PIPCACHE_HOME/daemon.sock` (mode 0600).
 */
export const PROTOCOL_VERSION = 1;

export interface ControlRequest {
  id: number;
  command: string;
  args?: Record<string, unknown>;
}

export interface ControlError {
  code: string;
  message: string;
  hint?: string;
}

export type ControlResponse =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: ControlError };

export interface HelloResult {
  protocol: number;
  version: string;
  pid: number;
}

export interface StatusResult {
  pid: number;
  version: string;
  address: string;
  port: number;
  host: string;
  startedAt: string;
  uptimeSeconds: number;
  offline: boolean;
  home: string;
  index: { projects: number; files: number; storedFiles: number; bytesOnDisk: number };
  requests: {
    hits: number;
    misses: number;
    revalidated: number;
    stale: number;
    bytesFromCache: number;
    bytesFromUpstream: number;
  };
}

export interface LsFile {
  project: string;
  version: string;
  filename: string;
  size: number | null;
  sha256: string | null;
  stored: boolean;
  goneUpstream: boolean;
  yanked: string | false;
  hits: number;
  lastServed: string | null;
}

export interface LsResult {
  projects: { name: string; versions: number; files: number; storedFiles: number; bytes: number }[];
  files?: LsFile[];
}
