import { PROTOCOL_VERSION, PipcacheError, type ExportRequest, type HelloResult } from '@pipcache/shared';
import type { Handler } from './server.js';
import type { ControlServices } from './services.js';
import { ls } from './ls.js';
import { checkPinRequest, listPins, unpin } from './pins.js';
import { status } from './status.js';
import { verifyStore } from './verify.js';

/** The control commands, keyed by name. */
export function controlHandlers(services: ControlServices): Record<string, Handler> {
  return {
    hello: (): HelloResult => ({ protocol: PROTOCOL_VERSION, version: services.version, pid: process.pid }),
    status: () => status(services),
    ls: (args) => ls(services, args),
    offline: async (args) => {
      if (args.on !== undefined) {
        if (typeof args.on !== 'boolean') throw new PipcacheError('E_USAGE', 'offline: expected on or off');
        await services.setOffline(args.on);
      }
      return { offline: services.isOffline() };
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
    stop: () => {
      setImmediate(() => services.stop());
      return { stopping: true };
    },
  };
}

const isLines = (v: unknown): boolean =>
  Array.isArray(v) && v.every((l) => typeof l === 'object' && l !== null && typeof (l as { text?: unknown }).text === 'string');

function checkExportRequest(args: Record<string, unknown>): ExportRequest {
  const t = args.target as Record<string, unknown> | undefined;
  const ok =
    typeof args.dir === 'string' &&
    args.dir.startsWith('/') &&
    isLines(args.roots) &&
    isLines(args.constraints) &&
    typeof t === 'object' &&
    t !== null &&
    typeof t.pythonVersion === 'string' &&
    Array.isArray(t.platforms);
  const pin = args.pin;
  if (!ok || (pin !== undefined && pin !== 'replace' && pin !== 'add' && pin !== 'none')) throw new PipcacheError('E_PROTOCOL', 'export: malformed request');
  return args as unknown as ExportRequest;
}
