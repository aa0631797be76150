/**
 * CLI <-> daemon messages: one JSON object per line over the unix socket
 * `$PIPCACHE_HOME/daemon.sock` (mode 0600).
 */
export const PROTOCOL_VERSION = 2;

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

/** Sent any number of times before the response of a long command. */
export interface ControlProgress {
  id: number;
  progress: ProgressEvent;
}

export interface ProgressEvent {
  phase: 'resolving' | 'fetching' | 'writing' | 'verifying';
  done: number;
  total: number;
  bytes: number;
  totalBytes: number;
}

export interface HelloResult {
  protocol: number;
  version: string;
  pid: number;
}

/**
 * How far the daemon reaches out: `online` (the indexes, and the team store
 * when one is configured), `team` (the team store only, never an index or a
 * file host), `offline` (nothing at all).
 */
export type UpstreamMode = 'online' | 'team' | 'offline';

export interface StatusResult {
  pid: number;
  version: string;
  address: string;
  port: number;
  host: string;
  startedAt: string;
  uptimeSeconds: number;
  /** True only in `offline` mode (no outbound traffic at all). */
  offline: boolean;
  mode: UpstreamMode;
  /** Clients must present the token under the home. */
  auth: boolean;
  home: string;
  /** Hosts whose HTTPS traffic is intercepted and cached: clients must not bypass the proxy for these. */
  interceptHosts: string[];
  /** The index that index mode fronts. */
  indexUpstream: string;
  /** `catalogBytes`: the LMDB file; `bytesOnDisk`: the stored archives and metadata files. */
  catalog: { projects: number; files: number; storedFiles: number; bytesOnDisk: number; catalogBytes: number };
  requests: {
    hits: number;
    misses: number;
    revalidated: number;
    stale: number;
    bytesFromCache: number;
    bytesFromUpstream: number;
  };
  /**
   * The size cap: `bytes` stored (archives and `.metadata` blobs records
   * hold, each blob once) against `maxSize`; `maxSizeDefault` when the config
   * sets none. Evictions and bytes evicted count since start; `hitRate` is
   * hits / (hits + misses) of requests for pages and files (revalidated and stale pages left out), null before any.
   */
  disk: {
    bytes: number;
    maxSize: number;
    maxSizeDefault: boolean;
    pinnedBytes: number;
    pinnedOverCap: boolean;
    evictions: number;
    bytesEvicted: number;
    hitRate: number | null;
  };
  /** The team tier (shared.s3); absent when none is configured. */
  team?: TeamStatus;
}

/**
 * The shared bucket as this daemon sees it: `up`, or `down` after a failure
 * (requests go upstream without asking it until it is retried). Counts since start.
 */
export interface TeamStatus {
  location: string;
  state: 'up' | 'down';
  /** Blobs served from the bucket, verified. */
  hits: number;
  /** Lookups the bucket did not hold. */
  misses: number;
  uploads: number;
  bytesUploaded: number;
  /** Wall time the uploader was busy (at least one upload running). */
  uploadSeconds: number;
  /** Verified blobs waiting to be uploaded (kept across restarts). */
  backlog: number;
  /** Objects whose bytes did not match their name. */
  refused: number;
  /** Project pages: written after a refresh from an index, read in team-only mode, refused when read back invalid. */
  pages: { written: number; read: number; refused: number };
  errors: number;
  lastError: string | null;
}

export interface LsFile {
  project: string;
  version: string;
  filename: string;
  size: number | null;
  sha256: string | null;
  stored: boolean;
  goneUpstream: boolean;
  imported: boolean;
  yanked: string | false;
  hits: number;
  lastServed: string | null;
  /** A pin set (an export, `pipcache pin`) keeps this file. */
  pinned?: boolean;
}

export interface LsResult {
  projects: { name: string; versions: number; files: number; storedFiles: number; bytes: number }[];
  files?: LsFile[];
}

/** A requirement line as written, with where it came from (file:line). */
export interface RequirementText {
  text: string;
  source: string;
}

export interface ExportTarget {
  /** '3.11' or '3.11.7'. */
  pythonVersion: string;
  /** Wheel platform tags; empty = the default Linux x86_64 set. */
  platforms: string[];
  /** PEP 508 environment of the target interpreter, when known exactly. */
  markerEnv?: Record<string, string>;
  /** The target interpreter's own supported tags, when known exactly. */
  tags?: string[];
}

export interface ExportRequest {
  /** Absolute path of the find-links directory. */
  dir: string;
  roots: RequirementText[];
  constraints: RequirementText[];
  pre: boolean;
  all: boolean;
  noDeps: boolean;
  prune: boolean;
  /** Only report what DIR lacks; write nothing. */
  check: boolean;
  target: ExportTarget;
  /**
   * What a written export does to DIR's pin set: `replace` (the default) pins
   * exactly the files written, `add` adds them (files a proof added), `none`
   * pins nothing (a throwaway directory). A `check` never pins.
   */
  pin?: 'replace' | 'add' | 'none';
}

/** `pipcache pin`: resolve like an export, write nothing, pin the chosen files under `name`. */
export type PinRequest = Pick<ExportRequest, 'roots' | 'constraints' | 'pre' | 'noDeps' | 'target'> & {
  /** `spec:<text>` or `file:<absolute path>` (or any name the user chose). */
  name: string;
};

export interface PinSetInfo {
  name: string;
  created: string;
  updated: string;
  files: number;
  /** Distinct pinned blobs (archives and `.metadata` files), each counted once. */
  bytes: number;
}

export interface PinsResult {
  sets: PinSetInfo[];
  /** Bytes of every pinned blob, each counted once whichever sets hold it. */
  pinnedBytes: number;
}

export interface PinResult {
  set: PinSetInfo;
  pinned: { filename: string; project: string; version: string; sha256: string; size: number; fetched: boolean }[];
  /** Versions chosen without known dependencies. */
  noMetadata: { project: string; version: string }[];
  notes: string[];
}

export interface UnpinResult {
  /** The name released (the first of the candidates that named a set). */
  name: string;
  files: number;
}

export interface ExportedFile {
  filename: string;
  project: string;
  version: string;
  sha256: string;
  size: number;
  action: 'linked' | 'copied' | 'skipped' | 'missing';
  /** The name of the index it came from (`indexes` in the config, `pypi` by default); null when imported. */
  index: string | null;
}

export interface ExportResult {
  dir: string;
  files: number;
  bytes: number;
  linked: number;
  copied: number;
  skipped: number;
  pruned: string[];
  written: ExportedFile[];
  /** With `check`: what DIR lacks (empty when complete). */
  lacking?: ExportedFile[];
  /** Versions chosen without known dependencies (no metadata cached). */
  noMetadata: { project: string; version: string }[];
  /** Chosen versions that only have an sdist: pip must build them. */
  sdistOnly: { project: string; version: string }[];
  /** Things the user should know (build requirements that could not be exported, ...). */
  notes: string[];
}

export interface ImportedFile {
  path: string;
  project: string;
  version: string;
  filename: string;
  sha256: string;
  size: number;
}

export interface ImportResult {
  imported: ImportedFile[];
  already: ImportedFile[];
  skipped: { path: string; reason: string }[];
}

export interface VerifyResult {
  checked: number;
  bytes: number;
  /** Blobs that were missing or damaged: removed and marked not stored. */
  damaged: { filename: string; project: string; sha256: string; reason: string }[];
  /** Blobs that could not be read (EIO, EMFILE, EACCES, ...): kept, nothing decided about them. */
  errors: { filename: string; project: string; sha256: string; reason: string }[];
}

/** `pipcache gc`: what was removed. */
export interface GcResult {
  /** Blobs no record held. */
  blobs: { count: number; bytes: number };
  /** Temp files of writes that never finished (a crash, a kill). */
  temp: { count: number; bytes: number };
  /** Blobs no record holds yet, published moments ago (a record is about to): left for a later run. */
  keptRecent: number;
}
