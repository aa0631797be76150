/**
 * Benchmark 3: `pipcache export <dir> <root>` (a find-links directory written
 * from the cache by the daemon) against `pip download --no-cache-dir -d <dir>
 * <root>` through the warm proxy: the two ways to get a closure's archives into
 * a directory once pipcache holds them.
 *
 *   node bench/run.mjs export [--rounds 3] [--python python3]
 *
 * A 50-wheel closure (`exportapp` + 49 dependencies: chains, a diamond, mostly
 * 20-200 KiB wheels plus four of 1-3 MiB) is served by the fake PyPI; one cold
 * `pip install` through the proxy fills the cache. Each round then runs, in
 * alternation and into a fresh directory each time:
 *   A `pipcache export <dir> exportapp` (the CLI, as a user runs it: Node start-up,
 *     asking python3 for its target environment, the daemon's resolve + link/copy)
 *   B `pip download --no-cache-dir -d <dir> exportapp` with `pipcache env --json`'s
 *     variables, from a venv of the same python3 (venv created once, not timed)
 * and compares the two directories (file names, sizes, sha256).
 */
import { createHash } from 'node:crypto';
import { readFile, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createTestCa } from '../test/fixtures/test-ca.js';
import { buildPackages } from '../test/fixtures/packages.js';
import { startFakePypi, type FakePypi, type FakePypiCounters } from '../test/fixtures/fake-pypi.js';
import { startDaemon, type TestDaemon } from '../test/helpers/daemon.js';
import { createVenv, type Venv } from '../test/helpers/venv.js';
import { CLOSURE_ROOT as ROOT_PROJECT, closureSpecs as specs } from './lib/closure.js';
import { log, max, mb, median, min, runBenchmark, secs, stopDaemon, table, tempDir, teardown } from './lib/common.js';

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    python: { type: 'string', default: 'python3' },
  },
});
const ROUNDS = Math.max(1, Number(opts.rounds));
const PYTHON = opts.python ?? 'python3';
const PIP_TIMEOUT_MS = 300_000;
const EXPORT_TIMEOUT_MS = 300_000;
const KiB = 1024;
const PIP_COMMON = ['--no-cache-dir', '--disable-pip-version-check', '--progress-bar', 'off'];

interface Entry {
  size: number;
  sha256: string;
}

/** Every entry of `dir` (files only, hidden ones included), with size and sha256. */
async function listing(dir: string): Promise<Map<string, Entry>> {
  const m = new Map<string, Entry>();
  for (const name of (await readdir(dir)).sort()) {
    const p = join(dir, name);
    const st = await stat(p);
    if (!st.isFile()) {
      m.set(`${name}/`, { size: 0, sha256: 'directory' });
      continue;
    }
    m.set(name, { size: st.size, sha256: createHash('sha256').update(await readFile(p)).digest('hex') });
  }
  return m;
}

function diff(a: Map<string, Entry>, b: Map<string, Entry>): { onlyA: string[]; onlyB: string[]; differ: string[] } {
  const onlyA = [...a.keys()].filter((k) => !b.has(k));
  const onlyB = [...b.keys()].filter((k) => !a.has(k));
  const differ = [...a.keys()].filter((k) => b.has(k) && (a.get(k)!.size !== b.get(k)!.size || a.get(k)!.sha256 !== b.get(k)!.sha256));
  return { onlyA, onlyB, differ };
}

function bytesOf(m: Map<string, Entry>): number {
  let n = 0;
  for (const e of m.values()) n += e.size;
  return n;
}

class Upstream {
  requests = 0;
  archives = 0;
  pages = 0;
  add(c: FakePypiCounters): void {
    this.requests += c.requests.length;
    for (const v of c.files.values()) this.archives += v;
    for (const v of c.pages.values()) this.pages += v;
  }
  toString(): string {
    return `requests ${this.requests}, page GETs ${this.pages}, archive GETs ${this.archives}`;
  }
}

interface RoundResult {
  exportMs: number;
  downloadMs: number;
  exportFiles: Map<string, Entry>;
  downloadFiles: Map<string, Entry>;
  exportSummary: string;
}

async function main(): Promise<void> {
  const tmp = await tempDir('export');
  let pypi: FakePypi | undefined;
  let daemon: TestDaemon | undefined;
  try {
    log(`workdir ${tmp}`);
    const ca = await createTestCa(join(tmp, 'ca'));
    log('building 50 wheels');
    const files = await buildPackages(specs(), join(tmp, 'dist'));
    const wheels = files.filter((f) => f.kind === 'wheel');
    const totalBytes = wheels.reduce((a, f) => a + f.size, 0);
    const sizes = wheels.map((f) => f.size);

    pypi = await startFakePypi({ ca, files });
    daemon = await startDaemon({ resolve: pypi.resolve, caCertPath: ca.certPath, home: join(tmp, 'home') });
    log(`daemon at ${daemon.address}, fake PyPI on 127.0.0.1:${pypi.port}`);
    const d = daemon;

    // One venv of the target python3: the cold install goes into it, pip download runs from it.
    const venv: Venv = await createVenv(join(tmp, 'venv'), PYTHON);
    const pyVersion = (await venv.python(['-c', 'import platform; print(platform.python_version())'])).stdout.trim();
    const pipVersion = (await venv.pip(['--version'])).stdout.trim().split(' from ')[0];

    log('cold install through the proxy (fills the cache)');
    pypi.resetCounters();
    const coldUp = new Upstream();
    const t0 = performance.now();
    const cold = await venv.pip(['install', ...PIP_COMMON, ROOT_PROJECT], d.pipEnv, PIP_TIMEOUT_MS);
    const coldMs = performance.now() - t0;
    coldUp.add(pypi.counters);
    if (cold.code !== 0 || cold.timedOut) throw new Error(`cold install failed (code ${cold.code})\n${cold.stdout}\n${cold.stderr}`);
    const installed = (/^Successfully installed (.*)$/m.exec(cold.stdout)?.[1] ?? '').split(/\s+/).filter(Boolean).length;

    const exportRun = async (dir: string): Promise<{ ms: number; summary: string }> => {
      const s = performance.now();
      const r = await d.cli(['export', dir, ROOT_PROJECT, '--json'], EXPORT_TIMEOUT_MS, { cwd: tmp });
      const ms = performance.now() - s;
      if (r.code !== 0 || r.timedOut) throw new Error(`pipcache export failed (code ${r.code})\n${r.stdout}\n${r.stderr}`);
      const j = JSON.parse(r.stdout) as { files: number; bytes: number; linked: number; copied: number; skipped: number };
      return { ms, summary: `${j.files} files, ${mb(j.bytes)} MiB: ${j.linked} linked, ${j.copied} copied, ${j.skipped} skipped` };
    };
    const downloadRun = async (dir: string): Promise<number> => {
      const s = performance.now();
      const r = await venv.pip(['download', ...PIP_COMMON, '-d', dir, ROOT_PROJECT], d.pipEnv, PIP_TIMEOUT_MS);
      const ms = performance.now() - s;
      if (r.code !== 0 || r.timedOut) throw new Error(`pip download failed (code ${r.code})\n${r.stdout}\n${r.stderr}`);
      return ms;
    };

    const warmUp = new Upstream();
    const results: RoundResult[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const exportDir = join(tmp, `out-${r}-export`);
      const downloadDir = join(tmp, `out-${r}-download`);
      // Alternate which one goes first, so neither always follows the other.
      const order = r % 2 === 0 ? ['export', 'download'] : ['download', 'export'];
      let exp: { ms: number; summary: string } | undefined;
      let dl: number | undefined;
      for (const which of order) {
        log(`round ${r + 1}/${ROUNDS}: ${which}`);
        pypi.resetCounters();
        if (which === 'export') exp = await exportRun(exportDir);
        else dl = await downloadRun(downloadDir);
        warmUp.add(pypi.counters);
      }
      results.push({
        exportMs: exp!.ms,
        downloadMs: dl!,
        exportFiles: await listing(exportDir),
        downloadFiles: await listing(downloadDir),
        exportSummary: exp!.summary,
      });
      await rm(exportDir, { recursive: true, force: true });
      await rm(downloadDir, { recursive: true, force: true });
    }

    await stopDaemon(daemon);
    daemon = undefined;

    const ex = results.map((x) => x.exportMs);
    const dl = results.map((x) => x.downloadMs);
    console.log('');
    console.log(
      `== export vs pip download: ${wheels.length} wheels (${mb(totalBytes)} MiB; ${(min(sizes) / KiB).toFixed(0)} KiB to ${mb(max(sizes))} MiB), ${ROUNDS} rounds alternating, fresh dirs ==`,
    );
    console.log(`target: python ${pyVersion} (pipcache export asks python3 on PATH; pip download runs from a venv of ${PYTHON}), ${pipVersion}`);
    console.log(`cold install through the proxy (cache fill): ${secs(coldMs)} s, ${installed} packages installed; upstream: ${coldUp}`);
    console.log('');
    console.log(
      table(
        ['round', 'A export s', 'B pip download s', 'A files', 'B files', 'A MiB', 'B MiB', 'same?'],
        results.map((x, i) => {
          const df = diff(x.exportFiles, x.downloadFiles);
          const same = df.onlyA.length + df.onlyB.length + df.differ.length === 0;
          return [
            String(i + 1),
            secs(x.exportMs, 3),
            secs(x.downloadMs, 3),
            String(x.exportFiles.size),
            String(x.downloadFiles.size),
            mb(bytesOf(x.exportFiles)),
            mb(bytesOf(x.downloadFiles)),
            same ? 'yes' : 'NO',
          ];
        }),
      ),
    );
    console.log('');
    console.log(
      table(
        ['variant', 'median s', 'min s', 'max s'],
        [
          ['A pipcache export <dir> exportapp', secs(median(ex), 3), secs(min(ex), 3), secs(max(ex), 3)],
          ['B pip download --no-cache-dir -d <dir> (warm proxy)', secs(median(dl), 3), secs(min(dl), 3), secs(max(dl), 3)],
        ],
      ),
    );
    console.log(`pipcache export (round 1): ${results[0]!.exportSummary}`);
    console.log(`upstream during the timed rounds (both variants): ${warmUp}${warmUp.archives === 0 ? '' : '  <-- expected 0 archive GETs'}`);

    // Directory contents: report every mismatch, per round.
    let mismatches = 0;
    results.forEach((x, i) => {
      const df = diff(x.exportFiles, x.downloadFiles);
      if (df.onlyA.length + df.onlyB.length + df.differ.length === 0) return;
      mismatches += 1;
      console.log('');
      console.log(`round ${i + 1}: the directories differ (A export ${x.exportFiles.size} files, B pip download ${x.downloadFiles.size} files)`);
      if (df.onlyA.length) console.log(`  only in export:       ${df.onlyA.join(' ')}`);
      if (df.onlyB.length) console.log(`  only in pip download: ${df.onlyB.join(' ')}`);
      for (const k of df.differ) {
        const a = x.exportFiles.get(k)!;
        const b = x.downloadFiles.get(k)!;
        console.log(`  content differs: ${k} (export ${a.size} B ${a.sha256.slice(0, 12)}, download ${b.size} B ${b.sha256.slice(0, 12)})`);
      }
    });
    const last = results[results.length - 1]!;
    console.log('');
    console.log(
      mismatches === 0
        ? `directories match: ${last.exportFiles.size} files each (names, sizes and sha256), in all ${ROUNDS} rounds`
        : `directories differ in ${mismatches} of ${ROUNDS} rounds (see above)`,
    );
    console.log('');
    console.log(
      `export: pipcache export ${secs(median(ex), 3)} s, pip download ${secs(median(dl), 3)} s, ratio export/download ${(median(ex) / median(dl)).toFixed(2)} (median of ${ROUNDS}); files ${last.exportFiles.size} vs ${last.downloadFiles.size}`,
    );
  } finally {
    await teardown({ daemon, pypi, tmp });
  }
}

runBenchmark(main);
