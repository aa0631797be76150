import type { LsResult } from '@pipcache/shared';
import { call } from '../client.js';
import { paths } from '../context.js';
import { formatBytes, table } from '../output.js';

export async function ls(args: { project?: string }): Promise<{ result: unknown; text: string }> {
  const res = await call<LsResult>(paths().socket, 'ls', args.project ? { project: args.project } : {});
  if (res.files) {
    if (res.files.length === 0) return { result: res, text: `nothing cached for ${args.project}` };
    const rows = [['VERSION', 'FILE', 'SIZE', 'HITS', 'LAST SERVED', 'STATE']];
    for (const f of res.files) {
      const state = [
        f.stored ? 'cached' : 'listed',
        f.pinned ? 'pinned' : '',
        f.imported ? 'imported' : '',
        f.goneUpstream ? 'gone upstream' : '',
        f.yanked !== false ? 'yanked' : '',
      ]
        .filter(Boolean)
        .join(', ');
      const served = f.lastServed === null ? '-' : f.lastServed.replace(/\.\d+Z$/, 'Z');
      rows.push([f.version, f.filename, f.size === null ? '?' : formatBytes(f.size), String(f.hits), served, state]);
    }
    return { result: res, text: table(rows) };
  }
  if (res.projects.length === 0) return { result: res, text: 'the cache is empty' };
  const rows = [['PROJECT', 'VERSIONS', 'FILES', 'SIZE']];
  for (const p of res.projects) rows.push([p.name, String(p.versions), String(p.storedFiles), formatBytes(p.bytes)]);
  return { result: res, text: table(rows) };
}
