import type { VerifyResult } from '@pipcache/shared';
import { call } from '../client.js';
import { paths } from '../context.js';
import { formatBytes } from '../output.js';
import { progressBar } from '../progress.js';

const VERIFY_TIMEOUT_MS = 6 * 60 * 60 * 1000;

/** Re-hashes every stored file; damaged ones are dropped (and fetched again on next use), unreadable ones reported. Exit 1 when any was. */
export async function verify(args: { json?: boolean }): Promise<{ result: unknown; text: string }> {
  const bar = progressBar(process.stderr);
  let res: VerifyResult;
  try {
    res = await call<VerifyResult>(paths().socket, 'verify', {}, VERIFY_TIMEOUT_MS, args.json ? undefined : bar.update);
  } finally {
    bar.done();
  }
  if (res.damaged.length > 0 || res.errors.length > 0) process.exitCode = 1;
  const lines = [
    `checked ${res.checked} files (${formatBytes(res.bytes)}): ${res.damaged.length} damaged` +
      (res.errors.length > 0 ? `, ${res.errors.length} could not be read` : ''),
  ];
  for (const d of res.damaged) lines.push(`  removed ${d.filename} (${d.project}): ${d.reason}`);
  for (const e of res.errors) lines.push(`  kept ${e.filename} (${e.project}): ${e.reason}`);
  return { result: res, text: lines.join('\n') };
}
