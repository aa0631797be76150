import type { Config, HomePaths, TeamStatus, UpstreamMode } from '@pipcache/shared';
import type { Catalog } from '../store/catalog.js';
import type { BlobStore } from '../store/blob-store.js';
import type { Stats } from '../proxy/stats.js';
import type { Store } from '../store/store.js';
import type { ExportRequest, ExportResult, PinRequest, PinResult, ProgressEvent } from '@pipcache/shared';
import type { Pins } from '../store/pins.js';
import type { Importer } from '../import/importer.js';
import type { EvictionStatus } from '../store/evictor.js';

/** What control handlers may use; they never reach LMDB except through Catalog. */
export interface ControlServices {
  catalog: Catalog;
  blobs: BlobStore;
  stats: Stats;
  paths: HomePaths;
  config: () => Config;
  version: string;
  startedAt: Date;
  address: () => { host: string; port: number };
  isOffline: () => boolean;
  /** Online, team-only or offline (`pipcache offline on|team|off`). */
  mode: () => UpstreamMode;
  setMode: (mode: UpstreamMode) => Promise<void>;
  stop: () => void;
  exporter: (req: ExportRequest, progress?: (p: ProgressEvent) => void) => Promise<ExportResult>;
  /** Records stored and damaged blobs (`verify`). */
  store: Store;
  importer: Importer;
  /** Pin sets: what exports and `pipcache pin` keep. */
  pins: Pins;
  /** `pipcache pin`: resolves like an export and pins the chosen files. */
  pinner: (req: PinRequest, progress?: (p: ProgressEvent) => void) => Promise<PinResult>;
  /** The size cap and what eviction did since start. */
  eviction: () => EvictionStatus;
  /** The team tier's state and counts; undefined when none is configured. */
  team?: () => TeamStatus | undefined;
}
