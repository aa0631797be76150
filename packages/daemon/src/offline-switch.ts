import type { Logger } from 'pino';

/** Where the offline switch is kept across restarts (the catalog's settings). */
export interface SettingStore {
  getSetting<T>(name: string): T | undefined;
  setSetting(name: string, value: unknown): Promise<void>;
}

const SETTING = 'offline';

/**
 * Offline mode: set by `pipcache offline on|off` or the config file, kept
 * across restarts. The last one set wins; the upstream gate reads it.
 */
export class OfflineSwitch {
  private on: boolean;

  constructor(
    private readonly settings: SettingStore,
    configured: boolean,
    private readonly log: Logger,
  ) {
    this.on = settings.getSetting<boolean>(SETTING) ?? configured;
  }

  get isOn(): boolean {
    return this.on;
  }

  /** From the control socket: says so in the log. */
  async set(on: boolean): Promise<void> {
    this.on = on;
    await this.settings.setSetting(SETTING, on);
    this.log.info({ offline: on }, on ? 'offline mode on' : 'offline mode off');
  }

  /** From a config reload: only a change of the configured value moves the switch. */
  configChanged(on: boolean): void {
    this.on = on;
    void this.settings.setSetting(SETTING, on);
  }
}
