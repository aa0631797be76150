/** Summarizes a V8 `.cpuprofile` (from `node --cpu-prof`) by self time. */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT } from './common.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
  /** Added by cpu-prof-preload.mjs: one wall-clock / monotonic-µs pair. */
  benchClock?: { wallMs: number; monoUs: number };
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  /** Sampled time counted (inside the windows, when given). */
  countedMs: number;
  windowed: boolean;
  /** Self time per function, descending. */
  functions: { name: string; where: string; ms: number }[];
  /** Self time per broad origin (idle, GC, node internals, each package, daemon code). */
  origins: { origin: string; ms: number }[];
}

/** The profile in `dir` that covers the longest wall time (the daemon, not the short CLI runs). */
export async function longestProfile(dir: string): Promise<string | undefined> {
  let best: { file: string; span: number } | undefined;
  for (const name of await readdir(dir)) {
    if (!name.endsWith('.cpuprofile')) continue;
    const p = JSON.parse(await readFile(join(dir, name), 'utf8')) as Profile;
    const span = p.endTime - p.startTime;
    if (!best || span > best.span) best = { file: join(dir, name), span };
  }
  return best?.file;
}

function shortUrl(url: string): string {
  if (!url) return '';
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) return path.slice(nm + '/node_modules/'.length);
  return path.startsWith(ROOT) ? path.slice(ROOT.length + 1) : path;
}

function originOf(frame: ProfileNode['callFrame']): string {
  const { functionName, url } = frame;
  if (functionName === '(idle)') return '(idle)';
  if (functionName === '(garbage collector)') return '(garbage collector)';
  if (functionName === '(program)') return '(program: native/unattributed)';
  if (!url) return `(native: ${functionName || 'anonymous'})`;
  if (url.startsWith('node:')) return 'node: internals';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return `pkg ${rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  const m = /\/packages\/([^/]+)\//.exec(url);
  return m ? `pipcache ${m[1]}` : shortUrl(url);
}

/**
 * Self time by function and by origin. With `windows` (wall-clock ms, e.g. the
 * timed pip runs) and a profile from cpu-prof-preload.mjs, only samples inside
 * the windows count, so daemon start-up and idle gaps between runs drop out.
 */
export async function summarizeProfile(file: string, top = 15, windows?: { start: number; end: number }[]): Promise<ProfileSummary> {
  const p = JSON.parse(await readFile(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  const clock = p.benchClock;
  const windowed = Boolean(windows && clock);
  let t = p.startTime;
  let countedUs = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    t += dt;
    if (windows && clock) {
      const wall = clock.wallMs + (t - clock.monoUs) / 1000;
      if (!windows.some((w) => wall >= w.start && wall <= w.end)) return;
    }
    countedUs += dt;
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
  });
  const fn = new Map<string, { name: string; where: string; us: number }>();
  const origins = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const f = byId.get(id)!.callFrame;
    const where = f.url ? `${shortUrl(f.url)}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName}\0${where}`;
    const e = fn.get(key) ?? { name: f.functionName || '(anonymous)', where, us: 0 };
    e.us += us;
    fn.set(key, e);
    const o = originOf(f);
    origins.set(o, (origins.get(o) ?? 0) + us);
  }
  return {
    file,
    totalMs: (p.endTime - p.startTime) / 1000,
    countedMs: countedUs / 1000,
    windowed,
    functions: [...fn.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((e) => ({ name: e.name, where: e.where, ms: e.us / 1000 })),
    origins: [...origins.entries()].sort((a, b) => b[1] - a[1]).map(([origin, us]) => ({ origin, ms: us / 1000 })),
  };
}
