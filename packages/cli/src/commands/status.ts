import type { StatusResult } from '@pipcache/shared';
import { call } from '../client.js';
import { paths } from '../context.js';
import { formatBytes, formatDuration, table } from '../output.js';

export async function status(): Promise<{ result: unknown; text: string }> {
  const st = await call<StatusResult>(paths().socket, 'status');
  const r = st.requests;
  const text = table([
    ['address', st.address],
    ['pid', String(st.pid)],
    ['uptime', formatDuration(st.uptimeSeconds)],
    ['mode', st.offline ? 'offline' : 'online'],
    ['home', st.home],
    ['catalog', `${st.catalog.projects} projects, ${st.catalog.files} files known, ${st.catalog.storedFiles} stored (${formatBytes(st.catalog.catalogBytes)})`],
    ['on disk', formatBytes(st.catalog.bytesOnDisk)],
    ['requests', `${r.hits} hits, ${r.misses} misses, ${r.revalidated} revalidated, ${r.stale} served stale`],
    ['served', `${formatBytes(r.bytesFromCache)} from cache, ${formatBytes(r.bytesFromUpstream)} from upstream`],
  ]);
  return { result: st, text };
}
