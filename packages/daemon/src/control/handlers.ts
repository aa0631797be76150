import { PROTOCOL_VERSION, PipcacheError, type HelloResult, type UpstreamMode } from '@pipcache/shared';
import type { Handler } from './server.js';
import type { ControlServices } from './services.js';
import { ls } from './ls.js';
import { listPins, unpin } from './pins.js';
import { checkExportRequest, checkPinRequest } from './requests.js';
import { status } from './status.js';
import { verifyStore } from './verify.js';
import { KEEP_RECENT_MS } from '../store/gc.js';

/** The mode an `offline` request asks for: `{ mode }`, or `{ on }` as older clients send it; undefined to only ask. */
function requestedMode(args: Record<string, unknown>): UpstreamMode | undefined {
  if (args.mode !== undefined) {
    if (args.mode === 'online' || args.mode === 'team' || args.mode === 'offline') return args.mode;
    throw new PipcacheError('E_USAGE', 'offline: expected on, team or off');
  }
  if (args.on === undefined) return undefined;
  if (typeof args.on !== 'boolean') throw new PipcacheError('E_USAGE', 'offline: expected on, team or off');
  return args.on ? 'offline' : 'online';
}

/** The control commands, keyed by name. */
export function controlHandlers(services: ControlServices): Record<string, Handler> {
  return {
    hello: (): HelloResult => ({ protocol: PROTOCOL_VERSION, version: services.version, pid: process.pid }),
    status: () => status(services),
    ls: (args) => ls(services, args),
    offline: async (args) => {
      const mode = requestedMode(args);
      if (mode === 'team' && services.team?.() === undefined) {
        throw new PipcacheError('E_USAGE', 'offline team: team-only mode reads the team store, and the config names none (shared)');
      }
      if (mode !== undefined) await services.setMode(mode);
      return { offline: services.isOffline(), mode: services.mode() };
    },
    export: (args, progress) => services.exporter(checkExportRequest(args), progress),
    import: (args) => {
      const paths = args.paths;
      if (!Array.isArray(paths) || paths.length === 0 || !paths.every((p) => typeof p === 'string' && p.startsWith('/'))) {
        throw new PipcacheError('E_USAGE', 'import: expected absolute paths');
      }
      return services.importer.importPaths(paths as string[]);
    },
    pins: () => listPins(services.pins),
    pin: (args, progress) => services.pinner(checkPinRequest(args), progress),
    unpin: (args) => unpin(services.pins, args),
    verify: (_args, progress) => verifyStore({ catalog: services.catalog, blobs: services.blobs, store: services.store }, progress),
    gc: () => services.store.collectGarbage({ keepRecentMs: KEEP_RECENT_MS }),
    stop: () => {
      setImmediate(() => services.stop());
      return { stopping: true };
    },
  };
}

