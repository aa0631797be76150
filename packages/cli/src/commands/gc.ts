import type { GcResult } from '@pipcache/shared';
import { call } from '../client.js';
import { paths } from '../context.js';
import { formatBytes } from '../output.js';

const GC_TIMEOUT_MS = 60 * 60 * 1000;

/** Removes blobs no record holds and temp files of unfinished writes; prints what was freed. */
export async function gc(): Promise<{ result: unknown; text: string }> {
  const res = await call<GcResult>(paths().socket, 'gc', {}, GC_TIMEOUT_MS);
  const freed = res.blobs.bytes + res.temp.bytes;
  const lines = [
    `freed ${formatBytes(freed)}: ${res.blobs.count} blobs no record held (${formatBytes(res.blobs.bytes)}), ` +
      `${res.temp.count} temp files of unfinished writes (${formatBytes(res.temp.bytes)})`,
  ];
  if (res.keptRecent > 0) lines.push(`kept ${res.keptRecent} blobs published moments ago that no record holds yet; a later gc removes those still unheld`);
  return { result: res, text: lines.join('\n') };
}
