import type { Logger } from 'pino';
import type { SharedConfig } from '@pipcache/shared';
import { TeamTier } from './team-tier.js';
import type { BacklogEntry } from './uploader.js';

/** The catalog setting that keeps the upload backlog across restarts. */
export const BACKLOG_SETTING = 'team.uploadBacklog';

export interface TeamTierWiring {
  settings: { get<T>(name: string): T | undefined; set(name: string, value: unknown): Promise<void> };
  blobPath: (sha256: string) => string;
  blobSize: (sha256: string) => Promise<number | null>;
  log: Logger;
}

/** The team tier for the `shared` config key; null when none is configured. */
export async function openTeamTier(shared: SharedConfig | null, w: TeamTierWiring): Promise<TeamTier | null> {
  if (!shared) return null;
  // Loaded only here: the AWS SDK is large, and most daemons have no team tier.
  const { Bucket } = await import('./bucket.js');
  return new TeamTier({
    bucket: new Bucket(shared.s3, shared.timeoutMs),
    blobPath: w.blobPath,
    blobSize: w.blobSize,
    backlog: {
      load: () => (w.settings.get<BacklogEntry[]>(BACKLOG_SETTING) ?? []).filter((e) => typeof e?.sha256 === 'string' && typeof e.size === 'number'),
      save: (entries) => w.settings.set(BACKLOG_SETTING, entries),
    },
    log: w.log,
  });
}
