/**
 * Benchmark: the team tier. The 50-wheel closure plus one `--big-mb` (64)
 * wheel is served by the fake PyPI; a real object store (OpenStack Swift's
 * S3 API on loopback, from Debian's python3-swift) holds the team bucket.
 * Timed, each in a fresh venv (venv creation not timed), in the same run:
 *
 * - **A cold**: daemon A installs from the fake PyPI (and uploads in the background);
 * - **A warm**: daemon A again, from its own cache;
 * - **B from the team store**: daemon B, another home, team-only
 *   (`"offline": "team"`), with the fake PyPI stopped: pages, `.metadata`
 *   files and archives all from the bucket.
 *
 * Also printed: A's upload throughput (bytes over the time its uploads took).
 *
 *   node bench/run.mjs team [--big-mb 64]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createTestCa } from '../test/fixtures/test-ca.js';
import { startFakePypi, type FakePypi } from '../test/fixtures/fake-pypi.js';
import { startDaemon, type TestDaemon } from '../test/helpers/daemon.js';
import { startObjectStore, type ObjectStore } from '../test/helpers/object-store.js';
import { createVenv } from '../test/helpers/venv.js';
import { closureSpecs, CLOSURE_ROOT } from './lib/closure.js';
import { prebuilt } from './lib/prebuilt.js';
import { log, mb, secs, stopDaemon, table, tempDir, teardown, runBenchmark } from './lib/common.js';

const { values: opts } = parseArgs({ options: { 'big-mb': { type: 'string', default: '64' } } });
const MiB = 1024 * 1024;
const BIG_MB = Math.max(1, Number(opts['big-mb']));
const BIG = 'teambig';
const BUCKET = 'pipcache-bench';
const PIP_TIMEOUT_MS = 600_000;
const DRAIN_TIMEOUT_MS = 300_000;

/** The part of `pipcache status --json` this benchmark reads. */
interface TeamStatus {
  hits: number;
  misses: number;
  refused: number;
  errors: number;
  uploads: number;
  bytesUploaded: number;
  uploadSeconds: number;
  backlog: number;
  pages: { written: number; read: number; refused: number };
}

async function team(d: TestDaemon): Promise<TeamStatus> {
  const st = JSON.parse((await d.cli(['status', '--json'])).stdout) as { team?: TeamStatus };
  if (!st.team) throw new Error('status has no team block');
  return st.team;
}

async function main(): Promise<void> {
  const specs = [...closureSpecs(), { name: BIG, version: '1.0.0', payloadBytes: BIG_MB * MiB, kind: 'wheel' as const }];
  const files = await prebuilt(`team-closure-${BIG_MB}mb`, specs);
  const total = files.reduce((a, f) => a + f.size, 0);
  const tmp = await tempDir('team');
  let pypi: FakePypi | undefined;
  let store: ObjectStore | undefined;
  const daemons: TestDaemon[] = [];
  let venvs = 0;
  try {
    const ca = await createTestCa(join(tmp, 'ca'));
    pypi = await startFakePypi({ ca, files });
    log('starting Swift (S3 API) on loopback');
    store = await startObjectStore(join(tmp, 'swift'));
    await store.createBucket(BUCKET);
    // Kept once the fake PyPI is stopped: its hosts then resolve to a closed port.
    const resolve = pypi.resolve;
    const shared = { s3: { endpoint: store.endpoint, bucket: BUCKET, prefix: 'bench/', region: store.region, forcePathStyle: true } };
    const daemon = async (name: string, mode: { offline?: 'team' } = {}): Promise<TestDaemon> => {
      const home = join(tmp, name);
      await mkdir(home, { recursive: true });
      await writeFile(join(home, 'config.json'), JSON.stringify({ shared, ...mode }));
      const d = await startDaemon({ resolve, caCertPath: ca.certPath, home, extraEnv: (store as ObjectStore).env });
      daemons.push(d);
      return d;
    };
    const install = async (d: TestDaemon, label: string): Promise<number> => {
      const venv = await createVenv(join(tmp, `venv-${venvs++}`));
      const t0 = performance.now();
      const r = await venv.pip(['install', '--no-cache-dir', CLOSURE_ROOT, BIG], d.pipEnv, PIP_TIMEOUT_MS);
      const ms = performance.now() - t0;
      if (r.code !== 0) throw new Error(`${label}: pip failed: ${r.stderr}${r.stdout}`);
      log(`${label}: ${secs(ms)} s`);
      return ms;
    };
    // Counted on the fake PyPI's own counters, which outlive it (B runs with it stopped).
    const counters = pypi.counters;
    const archives = (): number => [...counters.files.values()].reduce((a, b) => a + b, 0);

    const a = await daemon('home-a');
    const coldBefore = archives();
    const cold = await install(a, 'A cold');
    const coldArchives = archives() - coldBefore;
    const deadline = Date.now() + DRAIN_TIMEOUT_MS;
    let ta = await team(a);
    const projects = new Set(specs.map((s) => s.name)).size;
    while ((ta.backlog > 0 || ta.pages.written < projects) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      ta = await team(a);
    }
    if (ta.backlog > 0 || ta.pages.written < projects) throw new Error(`A's uploads did not drain in ${DRAIN_TIMEOUT_MS / 1000} s: ${JSON.stringify(ta)}`);
    const warmBefore = archives();
    const warm = await install(a, 'A warm');
    const warmArchives = archives() - warmBefore;
    const before = archives();
    // B has no index to fall back on: the fake PyPI is gone.
    await (pypi as FakePypi).close();
    pypi = undefined;
    const b = await daemon('home-b', { offline: 'team' });
    const fromTeam = await install(b, 'B from the team store (team-only, index stopped)');
    const tb = await team(b);
    const upstreamArchives = archives() - before;

    console.log('');
    console.log(`== team tier: ${files.length} wheels (${mb(total)} MiB, the largest ${BIG_MB} MiB), Swift S3 API on loopback, same run ==`);
    console.log('pip install --no-cache-dir in a fresh venv each time (venv creation not timed)');
    console.log('');
    console.log(
      table(
        ['install', 'seconds', 'archives from the fake PyPI'],
        [
          ['A cold (fake PyPI, uploads in the background)', secs(cold), String(coldArchives)],
          ['A warm (own cache)', secs(warm), String(warmArchives)],
          ['B from the team store (another home, team-only, fake PyPI stopped)', secs(fromTeam), String(upstreamArchives)],
        ],
      ),
    );
    console.log('');
    const rate = ta.uploadSeconds > 0 ? ta.bytesUploaded / 1e6 / ta.uploadSeconds : 0;
    console.log(`A uploaded ${ta.uploads} blobs, ${mb(ta.bytesUploaded)} MiB in ${ta.uploadSeconds.toFixed(2)} s of uploads: ${rate.toFixed(0)} MB/s (1e6 B/s)`);
    console.log(`A wrote ${ta.pages.written} pages to the bucket`);
    console.log(`B: ${tb.hits} hits from the bucket, ${tb.misses} misses, ${tb.refused} refused, ${tb.errors} errors; ${tb.pages.read} pages read, ${tb.pages.refused} refused`);
  } finally {
    for (const d of daemons) await stopDaemon(d);
    await store?.stop().catch((err: Error) => log(`could not stop Swift: ${err.message}`));
    await teardown({ pypi, tmp });
  }
}

runBenchmark(main);
