import { resolve } from 'node:path';
import type { ImportResult } from '@pipcache/shared';
import { call } from '../client.js';
import { paths } from '../context.js';
import { formatBytes } from '../output.js';

const IMPORT_TIMEOUT_MS = 2 * 60 * 60 * 1000;

export async function importCmd(args: { paths: string[] }): Promise<{ result: unknown; text: string }> {
  const abs = args.paths.map((p) => resolve(process.cwd(), p));
  const res = await call<ImportResult>(paths().socket, 'import', { paths: abs }, IMPORT_TIMEOUT_MS);
  const bytes = res.imported.reduce((a, f) => a + f.size, 0);
  const lines = [`imported ${res.imported.length} files (${formatBytes(bytes)}), ${res.already.length} already cached, ${res.skipped.length} skipped`];
  for (const s of res.skipped) lines.push(`  skipped ${s.path}: ${s.reason}`);
  return { result: res, text: lines.join('\n') };
}
