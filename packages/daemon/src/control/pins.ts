import { PipcacheError, type PinsResult, type UnpinResult } from '@pipcache/shared';
import type { Pins } from '../store/pins.js';

/** `pipcache pins`: every pin set, and the bytes all of them keep. */
export function listPins(pins: Pins): PinsResult {
  return { sets: pins.list(), pinnedBytes: pins.pinnedBytes() };
}

/**
 * `pipcache unpin DIR|NAME`: the CLI sends the names the argument may stand
 * for (as typed, as an absolute path, as `file:<path>`); the first that names
 * a set is released.
 */
export async function unpin(pins: Pins, args: Record<string, unknown>): Promise<UnpinResult> {
  const names = args.names;
  if (!Array.isArray(names) || names.length === 0 || !names.every((n) => typeof n === 'string')) {
    throw new PipcacheError('E_PROTOCOL', 'unpin: malformed request');
  }
  for (const name of names as string[]) {
    const removed = await pins.remove(name);
    if (removed) return { name, files: removed.files.length };
  }
  throw new PipcacheError('E_NOT_FOUND', `no pin set named ${names[0] as string}`, { hint: '`pipcache pins` lists them' });
}
