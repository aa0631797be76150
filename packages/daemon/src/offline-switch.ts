import type { Logger } from 'pino';
import type { UpstreamMode } from '@pipcache/shared';

/** Where the offline switch is kept across restarts (the catalog's settings). */
export interface SettingStore {
  getSetting<T>(name: string): T | undefined;
  setSetting(name: string, value: unknown): Promise<void>;
}

/** Kept as the config writes it (true, false, "team"), so a home from before the team mode reads the same. */
const SETTING = 'offline';

function fromSetting(value: unknown): UpstreamMode | undefined {
  if (value === 'team') return 'team';
  if (typeof value === 'boolean') return value ? 'offline' : 'online';
  return undefined;
}

function toSetting(mode: UpstreamMode): boolean | 'team' {
  return mode === 'team' ? 'team' : mode === 'offline';
}

const SAID: Record<UpstreamMode, string> = {
  online: 'offline mode off',
  team: 'team-only mode on: the team store and no index',
  offline: 'offline mode on',
};

/**
 * The upstream mode (online, team-only, offline): set by `pipcache offline
 * on|team|off` or the config file, kept across restarts. The last one set
 * wins; the upstream gate reads it.
 */
export class OfflineSwitch {
  private current: UpstreamMode;

  constructor(
    private readonly settings: SettingStore,
    configured: UpstreamMode,
    private readonly log: Logger,
  ) {
    this.current = fromSetting(settings.getSetting<unknown>(SETTING)) ?? configured;
  }

  /** Offline: no outbound traffic at all. */
  get isOn(): boolean {
    return this.current === 'offline';
  }

  get mode(): UpstreamMode {
    return this.current;
  }

  /** From the control socket: says so in the log. */
  async set(mode: UpstreamMode): Promise<void> {
    this.current = mode;
    await this.settings.setSetting(SETTING, toSetting(mode));
    this.log.info({ offline: mode === 'offline', mode }, SAID[mode]);
  }

  /** From a config reload: only a change of the configured value moves the switch. */
  configChanged(mode: UpstreamMode): void {
    this.current = mode;
    this.settings.setSetting(SETTING, toSetting(mode)).catch((err: Error) => this.log.error({ err: err.message }, 'could not keep the upstream mode in the catalog'));
  }
}
