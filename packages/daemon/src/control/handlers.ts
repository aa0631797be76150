import { PROTOCOL_VERSION, PipcacheError, type HelloResult } from '@pipcache/shared';
import type { Handler } from './server.js';
import type { ControlServices } from './services.js';
import { ls } from './ls.js';
import { status } from './status.js';

/** The control commands, keyed by name. */
export function controlHandlers(s: ControlServices): Record<string, Handler> {
  return {
    hello: (): HelloResult => ({ protocol: PROTOCOL_VERSION, version: s.version, pid: process.pid }),
    status: () => status(s),
    ls: (args) => ls(s, args),
    offline: async (args) => {
      if (args.on !== undefined) {
        if (typeof args.on !== 'boolean') throw new PipcacheError('E_USAGE', 'offline: expected on or off');
        await s.setOffline(args.on);
      }
      return { offline: s.isOffline() };
    },
    stop: () => {
      setImmediate(() => s.stop());
      return { stopping: true };
    },
  };
}
