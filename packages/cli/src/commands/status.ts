import type { StatusResult } from '@pipcache/shared';
import { call } from '../client.js';
import { paths } from '../context.js';
import { formatBytes, formatDuration, table } from '../output.js';

function diskRows(st: StatusResult): [string, string][] {
  const d = st.disk;
  const share = d.maxSize > 0 ? ` (${Math.round((100 * d.bytes) / d.maxSize)}%)` : '';
  const pinned = d.pinnedOverCap ? `${formatBytes(d.pinnedBytes)}, more than the cap: kept, nothing pinned is evicted` : formatBytes(d.pinnedBytes);
  return [
    ['size', `${formatBytes(d.bytes)} of ${formatBytes(d.maxSize)}${share}${d.maxSizeDefault ? ', default cap (maxSize not set)' : ''}`],
    ['pinned', pinned],
    ['evicted', `${d.evictions} files, ${formatBytes(d.bytesEvicted)} since start`],
    ['hit rate', d.hitRate === null ? '-' : `${(100 * d.hitRate).toFixed(1)}%`],
  ];
}

function teamRows(st: StatusResult): [string, string][] {
  const t = st.team;
  if (!t) return [];
  return [
    ['team', `${t.location}: ${t.state}`],
    ['team use', `${t.hits} hits, ${t.misses} misses, ${t.refused} refused; ${t.uploads} uploads (${formatBytes(t.bytesUploaded)}), ${t.backlog} waiting`],
    ['team pages', `${t.pages.written} written, ${t.pages.read} read, ${t.pages.refused} refused`],
    ['team errors', t.errors === 0 ? '0' : `${t.errors}, last: ${t.lastError ?? '-'}`],
  ];
}

export async function status(): Promise<{ result: unknown; text: string }> {
  const st = await call<StatusResult>(paths().socket, 'status');
  const r = st.requests;
  const text = table([
    ['address', st.address],
    ['pid', String(st.pid)],
    ['uptime', formatDuration(st.uptimeSeconds)],
    ['mode', st.mode === 'team' ? 'team-only (the team store, no index)' : (st.mode ?? (st.offline ? 'offline' : 'online'))],
    ['home', st.home],
    ['catalog', `${st.catalog.projects} projects, ${st.catalog.files} files known, ${st.catalog.storedFiles} stored (${formatBytes(st.catalog.catalogBytes)})`],
    ['on disk', formatBytes(st.catalog.bytesOnDisk)],
    ['requests', `${r.hits} hits, ${r.misses} misses, ${r.revalidated} revalidated, ${r.stale} served stale`],
    ['served', `${formatBytes(r.bytesFromCache)} from cache, ${formatBytes(r.bytesFromUpstream)} from upstream`],
    ...diskRows(st),
    ...teamRows(st),
  ]);
  return { result: st, text };
}
