import type { UpstreamMode } from '@pipcache/shared';
import { call } from '../client.js';
import { paths } from '../context.js';

const MODES: Record<string, UpstreamMode> = { on: 'offline', team: 'team', off: 'online' };

const SAID: Record<UpstreamMode, string> = {
  online: 'online',
  team: 'team-only: the team store and no index; installs are served from the cache and the team store',
  offline: 'offline: no upstream traffic; installs are served from the cache',
};

export async function offline(args: { state: string }): Promise<{ result: unknown; text: string }> {
  const mode = MODES[args.state];
  const res = await call<{ offline: boolean; mode?: UpstreamMode }>(paths().socket, 'offline', mode === undefined ? {} : { mode });
  return { result: res, text: SAID[res.mode ?? (res.offline ? 'offline' : 'online')] };
}
