/**
 * Benchmark 4: pipcache against the same baselines, in one run, as one table.
 *
 *   node bench/run.mjs compare [--runs 3] [--concurrent-runs 1] [--clients 16]
 *     [--size-mb 300] [--rtt-ms 50] [--rate-mbps 20] [--python python3]
 *     [--only big-wheel,installs,concurrent,rss] [--cpu-prof]
 *
 * Columns: direct (curl or pip straight to the fake HTTPS PyPI), a bare Node
 * server streaming the file over TLS and over plain HTTP (the physical limit
 * here), nginx as a caching proxy (nginx_pypi_cache's configuration; installed
 * with apt-get when missing), pipcache index mode and pipcache proxy mode.
 * Rows: the big wheel's cold-miss and warm-hit MB/s (curl, unshaped upstream);
 * a cold install of the 50-wheel closure behind the shaping relay (RTT and
 * shared rate), as a ratio to direct; N concurrent cold installs behind the
 * relay (wall time, upstream archive GETs per file); warm installs as a ratio
 * to `pip install --no-index --find-links` of the same wheels; the daemon's
 * peak RSS (VmHWM) while N clients stream the big wheel. Medians of --runs.
 * Every cold figure starts from an empty cache (a fresh daemon home, a fresh
 * nginx cache directory).
 *
 * --only measures some rows (the others print as –); --cpu-prof runs every
 * daemon under the V8 sampling profiler (lib/cpu-prof-preload.mjs) and prints
 * each mode's self time by origin and function afterwards (profiling slows
 * the daemon: its figures are then not comparable).
 */
import { link, copyFile, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent } from 'undici';
import { createTestCa, type TestCa } from '../test/fixtures/test-ca.js';
import type { BuiltFile } from '../test/fixtures/packages.js';
import { startFakePypi, type FakePypi } from '../test/fixtures/fake-pypi.js';
import { pythonhostedPath } from '../test/fixtures/simple-pages.js';
import { proxyClient } from '../test/helpers/proxy-client.js';
import { createVenv, type Venv } from '../test/helpers/venv.js';
import { BIG_WHEEL_PROJECT, bigWheel, prebuilt } from './lib/prebuilt.js';
import { CLOSURE_ROOT, closureSpecs } from './lib/closure.js';
import { bounded, log, mb, runBenchmark, startChildServer, table, tempDir, type ChildServer } from './lib/common.js';
import { summarizeProfile } from './lib/cpuprofile.js';
import { Figures, printComparison } from './lib/compare-report.js';
import { curlDiscard, curlVersion, type Sample } from './lib/curl.js';
import { indexFileUrl } from './lib/index-page.js';
import { findLinksColumn, openColumn, PIP_BASE_ENV, timedInstall, type ColumnContext, type ColumnKind, type OpenColumn } from './lib/install-columns.js';
import { childrenOf, ensureNginx } from './lib/nginx-cache.js';
import { cpuSeconds, statusBytes } from './lib/proc-stats.js';
import { startShapingRelay, type Shaping, type ShapingRelay } from './lib/shaping-relay.js';

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    'concurrent-runs': { type: 'string', default: '1' },
    clients: { type: 'string', default: '16' },
    'size-mb': { type: 'string', default: '300' },
    'rtt-ms': { type: 'string', default: '50' },
    'rate-mbps': { type: 'string', default: '20' },
    python: { type: 'string', default: 'python3' },
    only: { type: 'string', default: 'big-wheel,installs,concurrent,rss' },
    'cpu-prof': { type: 'boolean', default: false },
  },
});
const ROWS = ['big-wheel', 'installs', 'concurrent', 'rss'] as const;
const ONLY = new Set((opts.only ?? '').split(',').map((x) => x.trim()).filter(Boolean));
for (const r of ONLY) if (!(ROWS as readonly string[]).includes(r)) throw new Error(`--only: unknown row ${r}; choose from ${ROWS.join(', ')}`);
const RUNS = Math.max(1, Number(opts.runs));
const CONCURRENT_RUNS = Math.max(1, Number(opts['concurrent-runs']));
const CLIENTS = Math.max(1, Number(opts.clients));
const SIZE_MB = Math.max(1, Number(opts['size-mb']));
const SHAPING: Shaping = { rttMs: Number(opts['rtt-ms']), bytesPerSecond: Number(opts['rate-mbps']) * 1e6 };
const PYTHON = opts.python ?? 'python3';
const FETCH_TIMEOUT_MS = 300_000;
const PIP_TIMEOUT_MS = 600_000;
const CACHES: ColumnKind[] = ['nginx', 'index', 'proxy'];

interface Setup {
  tmp: string;
  ca: TestCa;
  big: BuiltFile;
  closure: BuiltFile[];
  findLinks: string;
  pypi: FakePypi;
  relay: ShapingRelay;
  venv: Venv;
  ctx: ColumnContext;
  kinds: ColumnKind[];
}

const mbps = (s: Sample): number => (s.speed ?? s.bytes / (s.ms / 1000)) / 1e6;
const archiveGets = (pypi: FakePypi, filename?: string): number =>
  filename ? (pypi.counters.files.get(filename) ?? 0) : [...pypi.counters.files.values()].reduce((a, b) => a + b, 0);

/** The big wheel's URL as each column serves it, and the curl arguments that fetch it. */
async function bigWheelArgs(s: Setup, col: OpenColumn): Promise<string[]> {
  const upstreamUrl = `https://files.pythonhosted.org${pythonhostedPath(s.big)}`;
  if (col.kind === 'nginx') return [`http://127.0.0.1:${col.nginx!.port}${pythonhostedPath(s.big)}`];
  const daemon = col.daemon!;
  if (col.kind === 'index') {
    const plain = new Agent();
    try {
      return [(await indexFileUrl(daemon, BIG_WHEEL_PROJECT, s.big.filename, plain)).url];
    } finally {
      await plain.close();
    }
  }
  // Proxy mode: the page first (a file is fetched only once an index lists it), as pip would.
  const bundle = daemon.pipEnv.PIP_CERT!;
  const pc = proxyClient(daemon.address, bundle);
  try {
    const page = await bounded('page through proxy', 30_000, pc.get(`https://pypi.org/simple/${BIG_WHEEL_PROJECT}/`, { accept: 'application/vnd.pypi.simple.v1+json' }));
    if (page.status !== 200) throw new Error(`${BIG_WHEEL_PROJECT} page through the proxy: status ${page.status}`);
  } finally {
    await pc.close();
  }
  return ['--proxy', daemon.address, '--cacert', bundle, upstreamUrl];
}

async function fetchBig(s: Setup, what: string, args: string[]): Promise<Sample> {
  const sample = await curlDiscard(args, FETCH_TIMEOUT_MS);
  if (sample.bytes !== s.big.size) throw new Error(`${what}: ${sample.bytes} bytes, expected ${s.big.size}`);
  return sample;
}

/** Wall-clock windows of the cold big-wheel fetches: --cpu-prof summarizes only those. */
const coldWindows: { start: number; end: number }[] = [];

/** CPU seconds of a process and its children (nginx's workers do its work). */
function treeCpu(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  let total = cpuSeconds(pid);
  for (const child of childrenOf(pid)) total = total === undefined ? undefined : total + (cpuSeconds(child) ?? 0);
  return total;
}

/** Rows 1-2: the big wheel, cold and warm, per column; upstream unshaped. */
async function measureBigWheel(s: Setup, f: Figures, servers: { tls: ChildServer; http: ChildServer }): Promise<void> {
  const direct = ['--connect-to', `files.pythonhosted.org:443:127.0.0.1:${s.pypi.port}`, '--cacert', s.ca.certPath, `https://files.pythonhosted.org${pythonhostedPath(s.big)}`];
  const bare = {
    direct,
    tls: ['--cacert', s.ca.certPath, `https://127.0.0.1:${servers.tls.port}/${s.big.filename}`],
    http: [`http://127.0.0.1:${servers.http.port}/${s.big.filename}`],
  };
  for (const [name, args] of Object.entries(bare)) await fetchBig(s, `${name} warm-up`, args); // page cache, not reported
  for (let r = 0; r < RUNS; r++) {
    log(`big wheel run ${r + 1}/${RUNS}: direct, Node TLS, Node HTTP`);
    for (const [name, args] of Object.entries(bare)) {
      const v = mbps(await fetchBig(s, name, args));
      f.push(`cold:${name}`, v);
      f.push(`warm:${name}`, v);
    }
    for (const kind of s.kinds.filter((k) => k !== 'direct')) {
      log(`big wheel run ${r + 1}/${RUNS}: ${kind} cold, then warm`);
      const col = await openColumn(s.ctx, kind, s.pypi.port);
      try {
        const args = await bigWheelArgs(s, col);
        s.pypi.resetCounters();
        // The serving process's CPU seconds per GB: steadier than MB/s on a shared machine.
        const perGb = async (row: 'cold' | 'warm'): Promise<void> => {
          const cpu0 = treeCpu(col.pid);
          const start = Date.now();
          f.push(`${row}:${kind}`, mbps(await fetchBig(s, `${kind} ${row}`, args)));
          if (row === 'cold') coldWindows.push({ start, end: Date.now() });
          const cpu1 = treeCpu(col.pid);
          if (cpu0 !== undefined && cpu1 !== undefined) f.push(`${row}CpuPerGB:${kind}`, (cpu1 - cpu0) / (s.big.size / 1e9));
        };
        await perGb('cold');
        // A miss is published (fsync, rename, record) just after its last byte: the warm fetch is a hit from the store.
        await col.daemon?.published();
        await perGb('warm');
        f.push(`bigGets:${kind}`, archiveGets(s.pypi, s.big.filename));
      } finally {
        await col.close();
      }
    }
  }
}

/** Rows 3 and 5: cold installs behind the shaped relay, then warm installs (relay unshaped) on the caches of the last cold run. */
async function measureInstalls(s: Setup, f: Figures): Promise<void> {
  const kept = new Map<ColumnKind, OpenColumn>();
  let t = 0;
  const target = () => join(s.tmp, `target-${t++}`);
  try {
    s.relay.setShaping(SHAPING);
    for (let r = 0; r < RUNS; r++) {
      for (const kind of s.kinds) {
        log(`cold install run ${r + 1}/${RUNS}: ${kind}`);
        const col = await openColumn(s.ctx, kind, s.relay.port);
        s.pypi.resetCounters();
        try {
          f.push(`coldInstall:${kind}`, await timedInstall(col, target(), CLOSURE_ROOT, s.closure.length, PIP_TIMEOUT_MS));
          f.push(`coldInstallGets:${kind}`, archiveGets(s.pypi));
        } catch (err) {
          await col.close();
          throw err;
        }
        if (r === RUNS - 1) kept.set(kind, col);
        else await col.close();
      }
    }
    s.relay.setShaping(null);
    const findLinks = findLinksColumn(s.venv, s.findLinks);
    for (let r = 0; r < RUNS; r++) {
      log(`warm install run ${r + 1}/${RUNS}: find-links, ${s.kinds.join(', ')}`);
      f.push('warmInstall:find-links', await timedInstall(findLinks, target(), CLOSURE_ROOT, s.closure.length, PIP_TIMEOUT_MS));
      for (const kind of s.kinds) {
        s.pypi.resetCounters();
        f.push(`warmInstall:${kind}`, await timedInstall(kept.get(kind)!, target(), CLOSURE_ROOT, s.closure.length, PIP_TIMEOUT_MS));
        if (kind !== 'direct') f.push(`warmInstallGets:${kind}`, archiveGets(s.pypi));
      }
    }
  } finally {
    s.relay.setShaping(null);
    for (const col of kept.values()) await col.close();
  }
}

/** Row 4: CLIENTS concurrent cold installs behind the shaped relay, each column from an empty cache. */
async function measureConcurrent(s: Setup, f: Figures): Promise<void> {
  s.relay.setShaping(SHAPING);
  try {
    for (let r = 0; r < CONCURRENT_RUNS; r++) {
      for (const kind of s.kinds) {
        log(`${CLIENTS} concurrent cold installs, run ${r + 1}/${CONCURRENT_RUNS}: ${kind}`);
        const col = await openColumn(s.ctx, kind, s.relay.port);
        try {
          s.pypi.resetCounters();
          const t0 = performance.now();
          const cpu0 = treeCpu(col.pid);
          await Promise.all(Array.from({ length: CLIENTS }, (_, i) => timedInstall(col, join(s.tmp, `conc-${kind}-${r}-${i}`), CLOSURE_ROOT, s.closure.length, PIP_TIMEOUT_MS)));
          f.push(`concurrent:${kind}`, performance.now() - t0);
          // The cache's own CPU seconds (none for direct): what it takes from the pips on a shared machine.
          const cpu1 = treeCpu(col.pid);
          if (cpu0 !== undefined && cpu1 !== undefined) f.push(`concurrentCpu:${kind}`, cpu1 - cpu0);
          // Every upstream request of any kind (pages with their 304s, .metadata, archives).
          f.push(`concurrentUpstream:${kind}`, s.pypi.counters.requests.length);
          const perFile = s.closure.map((file) => archiveGets(s.pypi, file.filename));
          f.push(`concurrentGets:${kind}`, perFile.reduce((a, b) => a + b, 0) / perFile.length);
          f.push(`concurrentGetsMax:${kind}`, Math.max(...perFile));
        } finally {
          await col.close();
        }
      }
    }
  } finally {
    s.relay.setShaping(null);
  }
}

/** Row 6: the daemon's VmHWM while CLIENTS curl clients stream the big wheel, cold (one shared miss) then warm. */
async function measurePeakRss(s: Setup, f: Figures): Promise<void> {
  for (const kind of ['index', 'proxy'] as const) {
    log(`peak RSS: ${kind} mode, ${CLIENTS} clients, cold then warm`);
    const col = await openColumn(s.ctx, kind, s.pypi.port);
    try {
      const pid = col.pid;
      if (pid === undefined) throw new Error('no daemon pid');
      const args = await bigWheelArgs(s, col);
      f.push(`rssIdle:${kind}`, statusBytes(pid, 'VmHWM') ?? Number.NaN);
      s.pypi.resetCounters();
      for (const phase of ['cold', 'warm']) {
        await Promise.all(Array.from({ length: CLIENTS }, () => fetchBig(s, `${kind} ${phase} x${CLIENTS}`, args)));
        f.push(`rss:${phase}:${kind}`, statusBytes(pid, 'VmHWM') ?? Number.NaN);
        if (phase === 'cold') await col.daemon?.published(); // the warm phase reads the published blob
      }
      f.push(`rssGets:${kind}`, archiveGets(s.pypi, s.big.filename));
    } finally {
      await col.close();
    }
  }
}

/** --cpu-prof: each daemon mode's profiles, summed by origin and by function. */
async function printProfiles(profDir: string): Promise<void> {
  for (const kind of ['index', 'proxy'] as const) {
    const dir = join(profDir, kind);
    const files = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.cpuprofile'));
    for (const name of files) {
      const windows = coldWindows.length > 0 ? coldWindows : undefined;
      const p = await summarizeProfile(join(dir, name), 25, windows);
      const busy = p.origins.filter((o) => o.origin !== '(idle)').reduce((acc, o) => acc + o.ms, 0);
      console.log('');
      console.log(
        `== daemon CPU profile, ${kind} mode (${name}): non-idle ${(busy / 1000).toFixed(2)} s of ${((p.windowed ? p.countedMs : p.totalMs) / 1000).toFixed(1)} s ${p.windowed ? 'inside the cold big-wheel fetches' : 'in all'} ==`,
      );
      console.log(table(['self time by origin', 'ms'], p.origins.slice(0, 12).map((o) => [o.origin, o.ms.toFixed(0)])));
      console.log(table(['top self-time functions', 'ms', 'where'], p.functions.map((f) => [f.name, f.ms.toFixed(0), f.where])));
    }
  }
}

async function main(): Promise<void> {
  const started = new Date();
  const tmp = await tempDir('compare');
  const servers: ChildServer[] = [];
  let pypi: FakePypi | undefined;
  let relay: ShapingRelay | undefined;
  try {
    const nginx = await ensureNginx();
    const ca = await createTestCa(join(tmp, 'ca'));
    const big = await bigWheel(SIZE_MB);
    const closure = (await prebuilt('closure-50', closureSpecs())).filter((x) => x.kind === 'wheel');
    const findLinks = join(tmp, 'find-links');
    await mkdir(findLinks);
    for (const w of closure) await link(w.path, join(findLinks, w.filename)).catch(() => copyFile(w.path, join(findLinks, w.filename)));
    pypi = await startFakePypi({ ca, files: [...closure, big] });
    relay = await startShapingRelay(pypi.port, null);
    const venv = await createVenv(join(tmp, 'venv'), PYTHON);
    const state = join(tmp, 'state');
    await mkdir(state);
    const kinds: ColumnKind[] = ['direct', ...CACHES.filter((k) => k !== 'nginx' || 'binary' in nginx)];
    const profDir = opts['cpu-prof'] ? join(tmp, 'prof') : undefined;
    if (profDir) await mkdir(profDir);
    const ctx: ColumnContext = { venv, caCertPath: ca.certPath, stateDir: state, nginxBinary: 'binary' in nginx ? nginx.binary : undefined, profDir };
    const s: Setup = { tmp, ca, big, closure, findLinks, pypi, relay, venv, kinds, ctx };

    const leaf = await ca.issue(['127.0.0.1', 'localhost']);
    await writeFile(join(tmp, 'leaf-cert.pem'), leaf.certPem);
    await writeFile(join(tmp, 'leaf-key.pem'), leaf.keyPem, { mode: 0o600 });
    const tls = await startChildServer('file-server.ts', ['https', big.path, join(tmp, 'leaf-cert.pem'), join(tmp, 'leaf-key.pem')]);
    servers.push(tls);
    const http = await startChildServer('file-server.ts', ['http', big.path]);
    servers.push(http);

    const figures = new Figures();
    if (ONLY.has('big-wheel')) await measureBigWheel(s, figures, { tls, http });
    if (ONLY.has('installs')) await measureInstalls(s, figures);
    if (ONLY.has('concurrent')) await measureConcurrent(s, figures);
    if (ONLY.has('rss')) await measurePeakRss(s, figures);

    const pipVersion = (await venv.pip(['--version'], PIP_BASE_ENV)).stdout.trim().split(' from ')[0] ?? 'pip ?';
    const pyVersion = (await venv.python(['-c', 'import platform; print(platform.python_version())'])).stdout.trim();
    printComparison(figures, {
      started,
      finished: new Date(),
      runs: RUNS,
      concurrentRuns: CONCURRENT_RUNS,
      clients: CLIENTS,
      shaping: SHAPING,
      bigWheel: `${big.filename}, ${(big.size / 1e6).toFixed(0)} MB (${mb(big.size)} MiB)`,
      closure: `${CLOSURE_ROOT} + ${closure.length - 1} dependencies, ${closure.length} wheels, ${(closure.reduce((a, w) => a + w.size, 0) / 1e6).toFixed(1)} MB`,
      kinds,
      nginx: 'binary' in nginx ? nginx.version : `skipped: ${nginx.skipped}`,
      tools: `node ${process.version}; ${(await curlVersion()) ?? 'curl ?'}; ${pipVersion} on Python ${pyVersion}; ${cpus().length} cores`,
    });
    if (profDir) await printProfiles(profDir);
  } finally {
    for (const srv of servers) await srv.stop();
    await relay?.close();
    await pypi?.close().catch(() => undefined);
    await rm(tmp, { recursive: true, force: true });
  }
}

runBenchmark(main);
