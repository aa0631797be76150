import { PipcacheError, type ExportRequest, type PinRequest } from '@pipcache/shared';

const isLines = (v: unknown): boolean =>
  Array.isArray(v) && v.every((l) => typeof l === 'object' && l !== null && typeof (l as { text?: unknown }).text === 'string');

/** What an export and a pin both carry: the requirement lines, the constraints and the target. */
function resolvesLikeExport(args: Record<string, unknown>): boolean {
  const t = args.target as Record<string, unknown> | undefined;
  return (
    isLines(args.roots) &&
    isLines(args.constraints) &&
    typeof t === 'object' &&
    t !== null &&
    typeof t.pythonVersion === 'string' &&
    Array.isArray(t.platforms)
  );
}

export function checkExportRequest(args: Record<string, unknown>): ExportRequest {
  const pin = args.pin;
  const ok =
    typeof args.dir === 'string' &&
    args.dir.startsWith('/') &&
    resolvesLikeExport(args) &&
    (pin === undefined || pin === 'replace' || pin === 'add' || pin === 'none');
  if (!ok) throw new PipcacheError('E_PROTOCOL', 'export: malformed request');
  return args as unknown as ExportRequest;
}

export function checkPinRequest(args: Record<string, unknown>): PinRequest {
  if (typeof args.name !== 'string' || !resolvesLikeExport(args)) throw new PipcacheError('E_PROTOCOL', 'pin: malformed request');
  return args as unknown as PinRequest;
}
