/**
 * Benchmark 1: warm `pip install` through pipcache vs `pip install --no-index
 * --find-links <dir>` of the very same wheels (the best pip can do locally).
 *
 *   node bench/run.mjs warm-install [--rounds 5] [--cpu-prof] [--prof-rounds 3] [--no-direct] [--python python3]
 *
 * A third, reference-only variant (skip with --no-direct) runs pip straight
 * against the fake HTTPS PyPI without any proxy: the cost of using an index at
 * all, so that pipcache's own share of the gap to find-links is visible.
 * Only the pip command is timed (venv creation is not). Rounds alternate
 * find-links / pipcache (ABAB...). --no-cache-dir on both sides.
 * --cpu-prof adds an extra, separately reported pass: the daemon is restarted on
 * the same (warm) cache under the V8 sampling profiler (lib/cpu-prof-preload.mjs,
 * since Node 20 refuses --cpu-prof in NODE_OPTIONS) and its self time summarized.
 */
import { link, copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createTestCa } from '../test/fixtures/test-ca.js';
import { buildPackages, type PackageSpec } from '../test/fixtures/packages.js';
import { PIP_RESOLVE_SHIM, startFakePypi, type FakePypi, type FakePypiCounters } from '../test/fixtures/fake-pypi.js';
import { startDaemon, type LogLine, type TestDaemon } from '../test/helpers/daemon.js';
import { createVenv, type Venv } from '../test/helpers/venv.js';
import type { RunResult } from '../test/helpers/proc.js';
import { longestProfile, summarizeProfile } from './lib/cpuprofile.js';
import { BENCH_DIR, log, max, mb, median, min, runBenchmark, secs, stopDaemon, table, tempDir, teardown } from './lib/common.js';

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    'cpu-prof': { type: 'boolean', default: false },
    'prof-rounds': { type: 'string', default: '3' },
    python: { type: 'string', default: 'python3' },
    'no-direct': { type: 'boolean', default: false },
  },
});
const ROUNDS = Math.max(1, Number(opts.rounds));
const PROF_ROUNDS = Math.max(1, Number(opts['prof-rounds']));
const PYTHON = opts.python ?? 'python3';
const DIRECT = !opts['no-direct'];
const PIP_TIMEOUT_MS = 300_000;
const CPU_PROF_PRELOAD = join(BENCH_DIR, 'lib', 'cpu-prof-preload.mjs');
const MiB = 1024 * 1024;

/**
 * `benchapp` plus 19 dependencies (20 wheels, ~29 MiB): two chains
 * (chain-a -> b -> c -> d, web-core -> web-util -> web-codec), a diamond
 * (mlops and plotter share numlite), and a handful of large payloads.
 */
function specs(): PackageSpec[] {
  const pkg = (name: string, payloadMiB: number, requires: string[] = []): PackageSpec => ({
    name,
    version: '1.0.0',
    requires,
    payloadBytes: Math.round(payloadMiB * MiB),
    kind: 'wheel',
  });
  return [
    pkg('benchapp', 0, [
      'chain-a>=1.0',
      'web-core>=1.0',
      'numlite>=1.0',
      'imgkit>=1.0',
      'datafmt>=1.0',
      'mlops>=1.0',
      'plotter>=1.0',
      'geo>=1.0',
      'sqltool>=1.0',
      'clicky>=1.0',
      'yamlish>=1.0',
      'timeutil>=1.0',
      'colorz>=1.0',
      'typing-more>=1.0',
    ]),
    pkg('chain-a', 0.5, ['chain-b>=1.0']),
    pkg('chain-b', 1, ['chain-c>=1.0']),
    pkg('chain-c', 0.01, ['chain-d>=1.0']),
    pkg('chain-d', 2),
    pkg('web-core', 1, ['web-util>=1.0']),
    pkg('web-util', 0.01, ['web-codec>=1.0']),
    pkg('web-codec', 0.5),
    pkg('numlite', 5),
    pkg('imgkit', 5),
    pkg('datafmt', 4),
    pkg('mlops', 3, ['numlite>=1.0', 'datafmt>=1.0']),
    pkg('plotter', 3, ['numlite>=1.0', 'imgkit>=1.0']),
    pkg('geo', 2),
    pkg('sqltool', 1, ['typing-more>=1.0']),
    pkg('clicky', 0.5, ['colorz>=1.0']),
    pkg('yamlish', 0.5),
    pkg('timeutil', 0.01),
    pkg('colorz', 0.01),
    pkg('typing-more', 0.01),
  ];
}

const COMMON_PIP_ARGS = ['install', '--no-cache-dir', '--disable-pip-version-check', '--progress-bar', 'off'];

interface Timed {
  ms: number;
  start: number;
  end: number;
  installed: number;
}

function installedCount(r: RunResult): number {
  const line = /^Successfully installed (.*)$/m.exec(r.stdout)?.[1] ?? '';
  return line.split(/\s+/).filter(Boolean).length;
}

type Runner = (venv: Venv) => Promise<RunResult>;

/** Creates a fresh venv (untimed), times one pip run, removes the venv. */
async function timedInstall(dir: string, what: string, runPip: Runner): Promise<Timed> {
  const venv = await createVenv(dir, PYTHON);
  try {
    const start = Date.now();
    const t0 = performance.now();
    const r = await runPip(venv);
    const ms = performance.now() - t0;
    const end = Date.now();
    if (r.code !== 0 || r.timedOut) {
      throw new Error(`${what}: pip failed (code ${r.code}, timedOut ${r.timedOut})\n${r.stdout}\n${r.stderr}`);
    }
    return { ms, start, end, installed: installedCount(r) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function sum(m: Map<string, number>): number {
  let n = 0;
  for (const v of m.values()) n += v;
  return n;
}

/** Upstream (fake PyPI) activity, accumulated over selected runs only. */
class UpstreamTally {
  requests = 0;
  statuses = new Map<number, number>();
  pages = 0;
  archives = 0;
  metadata = 0;
  connections = 0;

  add(c: FakePypiCounters): void {
    this.requests += c.requests.length;
    for (const r of c.requests) this.statuses.set(r.status, (this.statuses.get(r.status) ?? 0) + 1);
    this.pages += sum(c.pages);
    this.archives += sum(c.files);
    this.metadata += sum(c.metadata);
    this.connections += c.connections;
  }

  toString(): string {
    const st = [...this.statuses.entries()].map(([s, n]) => `${s}x${n}`).join(' ') || '-';
    return `requests ${this.requests} (${st}), page GETs ${this.pages}, archive GETs ${this.archives}, metadata GETs ${this.metadata}, TCP connections ${this.connections}`;
  }
}

/** Runs `fn` with the fake PyPI's counters reset and adds what it saw to `tally`. */
async function counted<T>(pypi: FakePypi, tally: UpstreamTally | undefined, fn: () => Promise<T>): Promise<T> {
  pypi.resetCounters();
  try {
    return await fn();
  } finally {
    tally?.add(pypi.counters);
    pypi.resetCounters();
  }
}

/** Per-round view of the daemon's request log inside [start, end]. */
function daemonRoundSummary(lines: LogLine[], rounds: Timed[]): string[][] {
  return rounds.map((r, i) => {
    const reqs = lines.filter((l) => l.msg === 'request' && typeof l.time === 'number' && l.time >= r.start && l.time <= r.end);
    const outcomes = new Map<string, number>();
    let pages = 0;
    let metadata = 0;
    let archives = 0;
    let bytes = 0;
    let sumMs = 0;
    let maxMs = 0;
    for (const l of reqs) {
      outcomes.set(String(l.cache), (outcomes.get(String(l.cache)) ?? 0) + 1);
      const path = l.path ?? '';
      if (path.startsWith('/simple/')) pages += 1;
      else if (path.endsWith('.metadata')) metadata += 1;
      else archives += 1;
      bytes += l.bytes ?? 0;
      const ms = typeof l.ms === 'number' ? l.ms : 0;
      sumMs += ms;
      maxMs = Math.max(maxMs, ms);
    }
    return [
      String(i + 1),
      String(reqs.length),
      String(pages),
      String(metadata),
      String(archives),
      [...outcomes.entries()].map(([k, v]) => `${k}:${v}`).join(' ') || '-',
      mb(bytes),
      String(sumMs),
      String(maxMs),
    ];
  });
}

async function main(): Promise<void> {
  const tmp = await tempDir('warm');
  let pypi: FakePypi | undefined;
  let daemon: TestDaemon | undefined;
  try {
    log(`workdir ${tmp}`);
    const ca = await createTestCa(join(tmp, 'ca'));
    log('building wheels');
    const files = await buildPackages(specs(), join(tmp, 'dist'));
    const wheels = files.filter((f) => f.kind === 'wheel');
    const findLinks = join(tmp, 'find-links');
    await mkdir(findLinks);
    for (const f of wheels) {
      await link(f.path, join(findLinks, f.filename)).catch(() => copyFile(f.path, join(findLinks, f.filename)));
    }
    const totalBytes = wheels.reduce((a, f) => a + f.size, 0);

    pypi = await startFakePypi({ ca, files });
    const home = join(tmp, 'home');
    await mkdir(home);
    daemon = await startDaemon({ resolve: pypi.resolve, caCertPath: ca.certPath, home });
    log(`daemon at ${daemon.address}, fake PyPI on 127.0.0.1:${pypi.port}`);

    const pipcacheArgs = [...COMMON_PIP_ARGS, 'benchapp'];
    const findLinksArgs = [...COMMON_PIP_ARGS, '--no-index', '--find-links', findLinks, 'benchapp'];
    const d = daemon;
    const viaPipcache: Runner = (venv) => venv.pip(pipcacheArgs, d.pipEnv, PIP_TIMEOUT_MS);
    const viaFindLinks: Runner = (venv) => venv.pip(findLinksArgs, {}, PIP_TIMEOUT_MS);
    // Reference only: pip straight to the fake HTTPS PyPI (no proxy, no pipcache),
    // hostnames patched in-process by the fixtures' resolve shim.
    const directEnv = { PIPCACHE_TEST_RESOLVE: pypi.resolve, PIP_CERT: ca.certPath };
    const viaDirect: Runner = (venv) => venv.python([PIP_RESOLVE_SHIM, ...pipcacheArgs], directEnv, PIP_TIMEOUT_MS);

    const indexEnv = JSON.parse((await daemon.cli(['env', '--index', '--json'])).stdout) as Record<string, string>;
    const viaIndex: Runner = (venv) => venv.pip(pipcacheArgs, indexEnv, PIP_TIMEOUT_MS);

    log('cold install through pipcache (fills the cache)');
    const coldTally = new UpstreamTally();
    const cold = await counted(pypi, coldTally, () => timedInstall(join(tmp, 'venv-cold'), 'cold', viaPipcache));

    const warmTally = new UpstreamTally();
    const a: Timed[] = [];
    const b: Timed[] = [];
    const c: Timed[] = [];
    const idx: Timed[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      log(`round ${r + 1}/${ROUNDS}: find-links`);
      a.push(await timedInstall(join(tmp, `venv-${r}-fl`), 'find-links', viaFindLinks));
      log(`round ${r + 1}/${ROUNDS}: pipcache`);
      b.push(await counted(pypi, warmTally, () => timedInstall(join(tmp, `venv-${r}-pc`), 'pipcache', viaPipcache)));
      log(`round ${r + 1}/${ROUNDS}: pipcache index mode`);
      idx.push(await counted(pypi, warmTally, () => timedInstall(join(tmp, `venv-${r}-idx`), 'index', viaIndex)));
      if (DIRECT) {
        log(`round ${r + 1}/${ROUNDS}: direct to fake PyPI (reference)`);
        c.push(await counted(pypi, undefined, () => timedInstall(join(tmp, `venv-${r}-direct`), 'direct', viaDirect)));
      }
    }

    // The same proxy with `coreMetadata: "uncached"` (applied live from the config file).
    await writeFile(join(home, 'config.json'), JSON.stringify({ coreMetadata: 'uncached' }));
    const reloadDeadline = Date.now() + 10_000;
    while (Date.now() < reloadDeadline && !(await daemon.logs()).some((l) => l.msg === 'config reloaded')) await new Promise((r) => setTimeout(r, 100));
    const a2: Timed[] = [];
    const m: Timed[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      log(`round ${r + 1}/${ROUNDS}: find-links / pipcache with coreMetadata=uncached`);
      a2.push(await timedInstall(join(tmp, `venv-${r}-fl2`), 'find-links', viaFindLinks));
      m.push(await counted(pypi, warmTally, () => timedInstall(join(tmp, `venv-${r}-meta`), 'pipcache-uncached', viaPipcache)));
    }

    await stopDaemon(daemon);
    const lines = await daemon.logs();
    daemon = undefined;

    const medA = median(a.map((t) => t.ms));
    const medB = median(b.map((t) => t.ms));
    const ratio = medB / medA;

    console.log('');
    console.log(`== warm install: ${wheels.length} wheels, ${mb(totalBytes)} MiB, ${ROUNDS} rounds (${DIRECT ? 'ABC' : 'AB'} alternating), pip --no-cache-dir ==`);
    console.log(`cold install through pipcache (cache fill): ${secs(cold.ms)} s, ${cold.installed} packages installed`);
    console.log(`  upstream during cold install: ${coldTally}`);
    console.log('');
    const row = (name: string, ts: Timed[]) => [
      name,
      secs(median(ts.map((t) => t.ms))),
      secs(min(ts.map((t) => t.ms))),
      secs(max(ts.map((t) => t.ms))),
      ts.map((t) => secs(t.ms)).join(' '),
      String(ts[0]?.installed ?? 0),
    ];
    const rows = [row('A find-links (--no-index)', a), row('B pipcache warm (proxy)', b), row('I pipcache warm (index mode)', idx)];
    if (DIRECT) rows.push(row('C reference: fake PyPI direct', c));
    console.log(table(['variant', 'median s', 'min s', 'max s', 'rounds (s)', 'pkgs'], rows));
    console.log('');
    console.log(`ratio pipcache/find-links: median ${ratio.toFixed(2)}, min ${(min(b.map((t) => t.ms)) / min(a.map((t) => t.ms))).toFixed(2)}`);
    if (DIRECT) console.log(`ratio direct-index/find-links (median): ${(median(c.map((t) => t.ms)) / medA).toFixed(2)}  (C: pip -> HTTPS index with no proxy; what any index costs pip)`);
    console.log(`ratio index-mode/find-links: median ${(median(idx.map((t) => t.ms)) / medA).toFixed(2)}`);
    console.log(
      `ratio proxy with coreMetadata=uncached / find-links: median ${(median(m.map((t) => t.ms)) / median(a2.map((t) => t.ms))).toFixed(2)} ` +
        `(pipcache ${secs(median(m.map((t) => t.ms)))} s, find-links ${secs(median(a2.map((t) => t.ms)))} s, separate ${ROUNDS} rounds)`,
    );
    console.log(`upstream during warm pipcache rounds: ${warmTally}${warmTally.archives === 0 ? '' : '  <-- expected 0 archive GETs'}`);
    console.log('');
    console.log('daemon request log per warm pipcache round (ms = daemon-side time per request, summed / max):');
    console.log(
      table(['round', 'reqs', 'pages', 'metadata', 'archives', 'outcomes', 'logged MiB', 'sum ms', 'max ms'], daemonRoundSummary(lines, b)),
    );

    if (opts['cpu-prof']) {
      const profDir = join(tmp, 'prof');
      await mkdir(profDir);
      log(`cpu-prof pass: restarting the daemon on the same cache under the V8 profiler (${PROF_ROUNDS} warm installs)`);
      daemon = await startDaemon({
        resolve: pypi.resolve,
        caCertPath: ca.certPath,
        home,
        extraEnv: { NODE_OPTIONS: `--import=${CPU_PROF_PRELOAD}`, PIPCACHE_BENCH_PROF_DIR: profDir },
      });
      const prof: Timed[] = [];
      const profTally = new UpstreamTally();
      for (let r = 0; r < PROF_ROUNDS; r++) {
        const pd = daemon;
        prof.push(
          await counted(pypi, profTally, () =>
            timedInstall(join(tmp, `venv-prof-${r}`), 'profiled', (venv) => venv.pip(pipcacheArgs, pd.pipEnv, PIP_TIMEOUT_MS)),
          ),
        );
      }
      await stopDaemon(daemon);
      daemon = undefined;
      const file = await longestProfile(profDir);
      console.log('');
      console.log(`== daemon CPU profile: ${PROF_ROUNDS} warm installs under the V8 profiler (${prof.map((t) => secs(t.ms)).join(' ')} s; profiling slows the daemon) ==`);
      console.log(`upstream during profiled rounds: ${profTally}`);
      if (!file) {
        console.log('no .cpuprofile was written (did the daemon exit cleanly?)');
      } else {
        const s = await summarizeProfile(file, 20, prof);
        const busy = s.origins.filter((o) => o.origin !== '(idle)').reduce((acc, o) => acc + o.ms, 0);
        const pipMs = prof.reduce((acc, t) => acc + t.ms, 0);
        console.log(
          s.windowed
            ? `samples inside the ${PROF_ROUNDS} pip runs only: ${secs(s.countedMs)} s of pip wall time sampled, daemon busy (non-idle) ${secs(busy)} s = ${((100 * busy) / pipMs).toFixed(0)}% of it`
            : `whole profile (${secs(s.totalMs, 1)} s incl. start-up and gaps; no clock mapping): non-idle ${secs(busy)} s`,
        );
        const shown = s.origins.slice(0, 12);
        const rest = s.origins.slice(12).reduce((acc, o) => acc + o.ms, 0);
        console.log(table(['daemon self time by origin', 'ms'], [...shown.map((o) => [o.origin, o.ms.toFixed(0)]), ['(other)', rest.toFixed(0)]]));
        console.log('');
        console.log(table(['top self-time functions', 'ms', 'where'], s.functions.map((f) => [f.name, f.ms.toFixed(0), f.where])));
      }
    }

    console.log('');
    console.log(`warm install (index mode): pipcache ${secs(median(idx.map((t) => t.ms)))} s, ratio ${(median(idx.map((t) => t.ms)) / medA).toFixed(2)}`);
    console.log(`warm install: pipcache ${secs(medB)} s, find-links ${secs(medA)} s, ratio ${ratio.toFixed(2)} (median of ${ROUNDS})`);
  } finally {
    await teardown({ daemon, pypi, tmp });
  }
}

runBenchmark(main);
