/** Prints what the comparison benchmark measured: one markdown table, the targets, and every run's figures. */
import { median, table } from './common.js';
import type { Shaping } from './shaping-relay.js';

/** Samples by key (`<measure>:<column>`), in run order. */
export class Figures {
  private readonly m = new Map<string, number[]>();
  push(key: string, v: number): void {
    this.m.set(key, [...(this.m.get(key) ?? []), v]);
  }
  all(key: string): number[] {
    return this.m.get(key) ?? [];
  }
  med(key: string): number | undefined {
    const xs = this.all(key);
    return xs.length ? median(xs) : undefined;
  }
  entries(): [string, number[]][] {
    return [...this.m.entries()];
  }
}

export interface ReportMeta {
  started: Date;
  finished: Date;
  runs: number;
  concurrentRuns: number;
  clients: number;
  shaping: Shaping;
  bigWheel: string;
  closure: string;
  /** Columns measured besides the bare servers (direct and the caches present). */
  kinds: string[];
  nginx: string;
  tools: string;
}

const COLUMNS: [key: string, title: string][] = [
  ['direct', 'direct'],
  ['tls', 'bare Node TLS'],
  ['http', 'bare Node HTTP'],
  ['nginx', 'nginx (index URL)'],
  ['index', 'pipcache index mode'],
  ['proxy', 'pipcache proxy mode'],
];
const DASH = '–';

const x = (a: number | undefined, b: number | undefined): string | undefined =>
  a === undefined || b === undefined || b === 0 ? undefined : `${(a / b).toFixed(2)}×`;

function throughputCell(f: Figures, row: 'cold' | 'warm', col: string): string {
  const v = f.med(`${row}:${col}`);
  if (v === undefined) return DASH;
  const ratios = [
    col !== 'direct' ? `${x(v, f.med(`${row}:direct`))} direct` : undefined,
    col !== 'tls' ? `${x(v, f.med(`${row}:tls`))} TLS` : undefined,
  ].filter(Boolean);
  const cpu = f.med(`${row}CpuPerGB:${col}`);
  return `${v.toFixed(0)} (${ratios.join(', ')}${cpu === undefined ? '' : `; ${cpu.toFixed(2)} CPU s/GB`})`;
}

function installCell(f: Figures, col: string): string {
  const v = f.med(`coldInstall:${col}`);
  const d = f.med('coldInstall:direct');
  if (v === undefined || d === undefined) return DASH;
  if (col === 'direct') {
    const runs = f.all('coldInstall:direct');
    return `1.00 (${(v / 1000).toFixed(1)} s; against itself ${(Math.max(...runs) / Math.min(...runs)).toFixed(2)})`;
  }
  return `${(v / d).toFixed(2)} (${(v / 1000).toFixed(1)} s)`;
}

function concurrentCell(f: Figures, col: string): string {
  const v = f.med(`concurrent:${col}`);
  const gets = f.med(`concurrentGets:${col}`);
  if (v === undefined || gets === undefined) return DASH;
  const ratio = col === 'direct' ? '' : `, ${x(v, f.med('concurrent:direct'))} direct`;
  const cpu = f.med(`concurrentCpu:${col}`);
  return `${(v / 1000).toFixed(1)}${ratio} (${gets.toFixed(gets % 1 ? 2 : 0)} per file${cpu === undefined ? '' : `; ${cpu.toFixed(1)} CPU s`})`;
}

function warmInstallCell(f: Figures, col: string): string {
  const v = f.med(`warmInstall:${col}`);
  const fl = f.med('warmInstall:find-links');
  return v === undefined || fl === undefined ? DASH : `${(v / fl).toFixed(2)} (${(v / 1000).toFixed(2)} s)`;
}

function rssCell(f: Figures, col: string): string {
  const cold = f.med(`rss:cold:${col}`);
  const warm = f.med(`rss:warm:${col}`);
  return cold === undefined || warm === undefined ? DASH : `${(cold / 1e6).toFixed(0)} / ${(warm / 1e6).toFixed(0)}`;
}

function markdown(headers: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Issue targets, as ratios in this run; "n/a" when a needed column is missing. */
function targets(f: Figures): string[][] {
  const m = (k: string) => f.med(k);
  const check = (name: string, ok: boolean | undefined, detail: string): string[] => [name, ok === undefined ? 'n/a' : ok ? 'met' : 'below', detail];
  const ge = (a: number | undefined, b: number | undefined, k = 1) => (a === undefined || b === undefined ? undefined : a >= k * b);
  const fmt = (v: number | undefined, digits = 0) => (v === undefined ? '?' : v.toFixed(digits));
  const rows: string[][] = [];
  for (const mode of ['index', 'proxy']) {
    const cold = m(`cold:${mode}`);
    rows.push(
      check(`cold miss, ${mode}: >= nginx and >= 0.9x direct`, ge(cold, m('cold:nginx')) === undefined ? undefined : Boolean(ge(cold, m('cold:nginx')) && ge(cold, m('cold:direct'), 0.9)), `${fmt(cold)} MB/s; nginx ${fmt(m('cold:nginx'))}, direct ${fmt(m('cold:direct'))}`),
    );
  }
  rows.push(check('warm hit, index: >= nginx', ge(m('warm:index'), m('warm:nginx')), `${fmt(m('warm:index'))} vs ${fmt(m('warm:nginx'))} MB/s`));
  rows.push(check('warm hit, proxy: >= 0.9x bare Node TLS', ge(m('warm:proxy'), m('warm:tls'), 0.9), `${fmt(m('warm:proxy'))} vs ${fmt(m('warm:tls'))} MB/s`));
  const d = m('coldInstall:direct');
  const ratio = (k: string) => (m(k) === undefined || d === undefined ? undefined : m(k)! / d);
  for (const mode of ['index', 'proxy']) {
    const r = ratio(`coldInstall:${mode}`);
    const n = ratio('coldInstall:nginx');
    rows.push(check(`cold install, ${mode}: ratio <= nginx's`, r === undefined || n === undefined ? undefined : r <= n, `${fmt(r, 2)} vs ${fmt(n, 2)}`));
  }
  const fl = m('warmInstall:find-links');
  for (const mode of ['index', 'proxy']) {
    const w = m(`warmInstall:${mode}`);
    rows.push(check(`warm install, ${mode}: <= 1.03x find-links`, w === undefined || fl === undefined ? undefined : w / fl <= 1.03, `${w === undefined || fl === undefined ? '?' : (w / fl).toFixed(2)}`));
  }
  for (const mode of ['index', 'proxy']) {
    const most = f.all(`concurrentGetsMax:${mode}`);
    const wall = m(`concurrent:${mode}`);
    const nginx = m('concurrent:nginx');
    const one = most.length ? Math.max(...most) === 1 : undefined;
    rows.push(
      check(`concurrent installs, ${mode}: 1 fetch per file, wall <= nginx`, one === undefined || nginx === undefined || wall === undefined ? undefined : one && wall <= nginx, `most fetches of one file ${most.length ? Math.max(...most) : '?'}; ${fmt(wall && wall / 1000, 1)} vs ${fmt(nginx && nginx / 1000, 1)} s`),
    );
  }
  for (const mode of ['index', 'proxy']) {
    const peak = Math.max(...f.all(`rss:cold:${mode}`), ...f.all(`rss:warm:${mode}`));
    rows.push(check(`peak RSS, ${mode}: <= 150 MB`, Number.isFinite(peak) ? peak <= 150e6 : undefined, `${fmt(peak / 1e6)} MB`));
  }
  return rows;
}

export function printComparison(f: Figures, meta: ReportMeta): void {
  const present = COLUMNS.filter(([k]) => ['tls', 'http'].includes(k) || meta.kinds.includes(k));
  const headers = ['measure', ...present.map(([, t]) => t)];
  const cells = (fn: (col: string) => string) => present.map(([k]) => fn(k));
  const { rttMs, bytesPerSecond } = meta.shaping;
  const shaped = `RTT ${rttMs} ms, ${(bytesPerSecond / 1e6).toFixed(0)} MB/s`;
  const fl = f.med('warmInstall:find-links');
  const rows = [
    ['big wheel, cold miss, MB/s', ...cells((c) => throughputCell(f, 'cold', c))],
    ['big wheel, warm hit, MB/s', ...cells((c) => throughputCell(f, 'warm', c))],
    [`cold install, ${shaped}, ratio to direct`, ...cells((c) => (['tls', 'http'].includes(c) ? DASH : installCell(f, c)))],
    [`${meta.clients} concurrent cold installs, ${shaped}, wall s (upstream GETs per file)`, ...cells((c) => (['tls', 'http'].includes(c) ? DASH : concurrentCell(f, c)))],
    [`warm install, ratio to --no-index --find-links (${fl === undefined ? '?' : (fl / 1000).toFixed(2)} s)`, ...cells((c) => (['tls', 'http'].includes(c) ? DASH : warmInstallCell(f, c)))],
    [`daemon peak RSS (VmHWM), ${meta.clients} clients streaming the big wheel, cold / warm, MB`, ...cells((c) => (['index', 'proxy'].includes(c) ? rssCell(f, c) : DASH))],
  ];
  console.log('');
  console.log(`== pipcache compared, one run: ${meta.started.toISOString().slice(0, 16).replace('T', ' ')} UTC to ${meta.finished.toISOString().slice(11, 16)}, medians of ${meta.runs} (concurrent installs: ${meta.concurrentRuns}) ==`);
  console.log(`big wheel: ${meta.bigWheel}; fetched with curl, upstream unshaped`);
  console.log(`installs: ${meta.closure}; pip install --target <fresh dir> --no-cache-dir; cold installs and concurrent installs behind the shaping relay (${shaped} shared), warm installs with the relay unshaped`);
  console.log(`nginx: ${meta.nginx}; Squid: not measured`);
  console.log(`tools: ${meta.tools}`);
  console.log(`MB = 1e6 bytes; "×direct" and "×TLS" compare with the direct and bare-Node-TLS figures of this run`);
  console.log('');
  console.log(markdown(headers, rows));
  console.log('');
  console.log('targets (same-run ratios):');
  console.log(table(['target', 'result', 'figures'], targets(f)));
  console.log('');
  console.log('every run (ms for times, MB/s for throughput, bytes for RSS, counts for GETs):');
  console.log(table(['figure', 'runs'], f.entries().map(([k, v]) => [k, v.map((n) => (Number.isInteger(n) ? String(n) : n.toFixed(k.includes('Gets') || k.includes('Cpu') ? 2 : 0))).join(' ')])));
}
