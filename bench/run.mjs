#!/usr/bin/env node
// Runs the pipcache benchmarks (TypeScript, no tsx needed):
//
//   node bench/run.mjs [all|warm-install|throughput|export|big-page|compare|eviction ...] [--no-build] [--no-typecheck] [-- bench options]
//
// 1. `tsc -b` (the workspace build: the daemon is benchmarked from packages/*/dist),
// 2. `tsc -p bench` (type-check only; bench/ and the test fixtures it imports),
// 3. each selected benchmark in turn (never in parallel), as
//    `node --import bench/lib/register.mjs bench/<name>.bench.ts <options>`.
// Everything from the first other option on (e.g. --rounds 3, --size-mb 100,
// --cpu-prof) goes to the benchmark; benchmarks reject unknown options, so
// options need exactly one benchmark name.
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(BENCH, '..');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const ALL = ['warm-install', 'throughput', 'export', 'big-page', 'compare', 'eviction', 'team', 'requests'];

const RUNNER_FLAGS = new Set(['--no-build', '--no-typecheck']);
const argv = process.argv.slice(2);
const names = [];
const flags = new Set();
const passThrough = [];
for (const a of argv) {
  if (RUNNER_FLAGS.has(a)) flags.add(a);
  else if (a === '--' && passThrough.length === 0) continue;
  else if (passThrough.length > 0 || a.startsWith('-')) passThrough.push(a);
  else names.push(a);
}
const selected = names.length === 0 || names.includes('all') ? ALL : names;
for (const n of selected) {
  if (!ALL.includes(n)) {
    console.error(`unknown benchmark ${n}; choose from: ${ALL.join(', ')}, all`);
    process.exit(2);
  }
}
if (selected.length > 1 && passThrough.length > 0) {
  console.error(`benchmark options apply to one benchmark at a time: name exactly one (${ALL.join(', ')})`);
  process.exit(2);
}

function step(what, cmd, args, timeoutMs) {
  process.stderr.write(`[bench] ${what}\n`);
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit', timeout: timeoutMs, killSignal: 'SIGKILL' });
  if (r.error || r.status !== 0) {
    console.error(`[bench] ${what} failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`})`);
    process.exit(1);
  }
}

if (!flags.has('--no-build')) step('tsc -b (workspace build)', process.execPath, [TSC, '-b'], 300_000);
if (!flags.has('--no-typecheck')) step('tsc -p bench (type-check)', process.execPath, [TSC, '-p', join(BENCH, 'tsconfig.json')], 300_000);
for (const name of selected) {
  // Generous outer bound; every wait inside the benchmarks is bounded as well.
  step(
    `${name}`,
    process.execPath,
    ['--enable-source-maps', '--import', join(BENCH, 'lib', 'register.mjs'), join(BENCH, `${name}.bench.ts`), ...passThrough],
    3_600_000,
  );
}
