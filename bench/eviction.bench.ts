/**
 * Benchmark: what eviction costs. `--total-mb` (2048) of archives are
 * published through two daemons at once, one capped at `--cap-mb` (1024,
 * so eviction runs all along the second half) and one with no cap in reach;
 * each file is fetched cold (a miss: download, verify, publish) through each
 * daemon's index mode in turn, alternating which goes first. Printed: MB/s
 * of each (1e6 B/s, bytes over the summed fetch times), their ratio, the
 * evictions and what the capped daemon still stores, and both daemons' peak
 * RSS (VmHWM).
 *
 *   node bench/run.mjs eviction [--total-mb 2048] [--cap-mb 1024] [--file-mb 64]
 *
 * The archives are generated once into bench/.work/ and reused.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { createTestCa } from '../test/fixtures/test-ca.js';
import { startFakePypi, type FakePypi } from '../test/fixtures/fake-pypi.js';
import { startDaemon, type TestDaemon } from '../test/helpers/daemon.js';
import { prebuilt } from './lib/prebuilt.js';
import { bounded, log, mb, stopDaemon, table, tempDir, teardown, runBenchmark } from './lib/common.js';
import { statusBytes } from './lib/proc-stats.js';

const { values: opts } = parseArgs({
  options: {
    'total-mb': { type: 'string', default: '2048' },
    'cap-mb': { type: 'string', default: '1024' },
    'file-mb': { type: 'string', default: '64' },
  },
});
const MiB = 1024 * 1024;
const FILE_MB = Math.max(1, Number(opts['file-mb']));
const FILES = Math.max(2, Math.round(Number(opts['total-mb']) / FILE_MB));
const CAP = Math.round(Number(opts['cap-mb']) * MiB);
const PROJECT = 'evictbench';
const FETCH_TIMEOUT_MS = 300_000;
/** Printed next to the figures (never asserted). */
const TARGET_SLOWDOWN = 0.05;

interface Side {
  label: string;
  daemon: TestDaemon;
  pid: number;
  urls: Map<string, string>;
  ms: number;
  bytes: number;
  perFile: { bytes: number; ms: number }[];
}

/** The daemon's index-mode URL of every file of the project, from its page (which also lists them in its catalog). */
async function listedUrls(daemon: TestDaemon, agent: Agent): Promise<Map<string, string>> {
  const envOut = await daemon.cli(['env', '--index', '--json']);
  const indexUrl = (JSON.parse(envOut.stdout) as Record<string, string>).PIP_INDEX_URL;
  if (!indexUrl) throw new Error(`no PIP_INDEX_URL: ${envOut.stdout}${envOut.stderr}`);
  const pageUrl = new URL(`${PROJECT}/`, indexUrl.endsWith('/') ? indexUrl : `${indexUrl}/`).href;
  const res = await bounded(`GET ${pageUrl}`, 30_000, request(pageUrl, { dispatcher: agent, headers: { accept: 'application/vnd.pypi.simple.v1+json' } }));
  const body = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`GET ${pageUrl}: ${res.statusCode}`);
  const files = (JSON.parse(body) as { files: { filename: string; url: string }[] }).files;
  return new Map(files.map((f) => [f.filename, new URL(f.url, pageUrl).href.replace(/#.*$/, '')]));
}

async function fetchDiscard(url: string, agent: Agent): Promise<{ bytes: number; ms: number }> {
  const t0 = performance.now();
  const res = await bounded(`GET ${url}`, FETCH_TIMEOUT_MS, request(url, { dispatcher: agent, bodyTimeout: 60_000 }));
  let bytes = 0;
  for await (const chunk of res.body) bytes += (chunk as Buffer).length;
  if (res.statusCode !== 200) throw new Error(`GET ${url}: status ${res.statusCode}`);
  return { bytes, ms: performance.now() - t0 };
}

/** The part of `pipcache status --json` this benchmark reads. */
interface DiskStatus {
  disk: { bytes: number; evictions: number; bytesEvicted: number };
}

async function status(d: TestDaemon): Promise<DiskStatus> {
  return JSON.parse((await d.cli(['status', '--json'])).stdout) as DiskStatus;
}

async function main(): Promise<void> {
  const specs = Array.from({ length: FILES }, (_, i) => ({ name: PROJECT, version: `${i + 1}.0`, payloadBytes: FILE_MB * MiB, kind: 'wheel' as const }));
  const files = await prebuilt(`eviction-${FILES}x${FILE_MB}mb`, specs);
  const total = files.reduce((a, f) => a + f.size, 0);
  const tmp = await tempDir('eviction');
  let pypi: FakePypi | undefined;
  const sides: Side[] = [];
  const agent = new Agent();
  try {
    const ca = await createTestCa(join(tmp, 'ca'));
    pypi = await startFakePypi({ ca, files });
    for (const [label, maxSize] of [
      ['capped', String(CAP)],
      ['no cap', '1TiB'],
    ] as const) {
      const daemon = await startDaemon({ resolve: pypi.resolve, caCertPath: ca.certPath, home: join(tmp, label.replace(' ', '-')), extraEnv: { PIPCACHE_MAX_SIZE: maxSize } });
      const pid = (JSON.parse(await readFile(join(daemon.home, 'daemon.json'), 'utf8')) as { pid: number }).pid;
      sides.push({ label, daemon, pid, urls: await listedUrls(daemon, agent), ms: 0, bytes: 0, perFile: [] });
    }
    log(`publishing ${FILES} files, ${mb(total)} MiB, through each daemon; cap ${mb(CAP)} MiB`);
    for (const [i, f] of files.entries()) {
      const order = i % 2 === 0 ? sides : [...sides].reverse();
      for (const side of order) {
        const url = side.urls.get(f.filename);
        if (!url) throw new Error(`${side.label}: the page does not list ${f.filename}`);
        const s = await fetchDiscard(url, agent);
        if (s.bytes !== f.size) throw new Error(`${side.label}: ${f.filename}: ${s.bytes} bytes, expected ${f.size}`);
        side.ms += s.ms;
        side.bytes += s.bytes;
        side.perFile.push(s);
      }
      if ((i + 1) % 8 === 0) log(`${i + 1}/${FILES}`);
    }
    // Eviction runs in the background: give the last pass a moment to finish.
    await new Promise((r) => setTimeout(r, 1000));
    const rows: string[][] = [];
    const rate = (s: Side): number => s.bytes / 1e6 / (s.ms / 1000);
    for (const side of sides) {
      const st = await status(side.daemon);
      const rss = statusBytes(side.pid, 'VmHWM');
      rows.push([
        side.label,
        mb(side.bytes),
        rate(side).toFixed(0),
        String(st.disk.evictions),
        mb(st.disk.bytesEvicted),
        mb(st.disk.bytes),
        rss === undefined ? 'n/a' : (rss / 1e6).toFixed(0),
      ]);
    }
    const [capped, free] = sides as [Side, Side];
    // Before the cap is in reach nothing is evicted: the two halves tell eviction's cost from the daemons' own difference.
    const half = (side: Side, from: number, to: number): string => {
      const part = side.perFile.slice(from, to);
      const ms = part.reduce((a, f) => a + f.ms, 0);
      return (part.reduce((a, f) => a + f.bytes, 0) / 1e6 / (ms / 1000)).toFixed(0);
    };
    const reach = Math.floor(CAP / (FILE_MB * MiB));
    const slowdown = 1 - rate(capped) / rate(free);
    console.log('');
    console.log(`== eviction cost: ${FILES} x ${FILE_MB} MiB wheels (${mb(total)} MiB) published through a ${mb(CAP)} MiB cap and through no cap, same run ==`);
    console.log('cold fetches through index mode (download, verify, publish); MB/s = 1e6 B/s over summed fetch times; peak RSS = VmHWM');
    console.log('');
    console.log(table(['daemon', 'MiB published', 'MB/s', 'evictions', 'MiB evicted', 'MiB stored at end', 'peak RSS MB'], rows));
    console.log('');
    console.log(`MB/s before the cap is in reach (files 1-${reach}) and after (files ${reach + 1}-${FILES}): capped ${half(capped, 0, reach)} / ${half(capped, reach, FILES)}, no cap ${half(free, 0, reach)} / ${half(free, reach, FILES)}`);
    console.log('');
    console.log(
      `capped vs no cap: ${(100 * slowdown).toFixed(1)}% ${slowdown >= 0 ? 'slower' : 'faster'} (target: under ${(100 * TARGET_SLOWDOWN).toFixed(0)}% slower: ${slowdown < TARGET_SLOWDOWN ? 'met' : 'not met'})`,
    );
  } finally {
    await agent.close();
    for (const side of sides) await stopDaemon(side.daemon);
    await teardown({ pypi, tmp });
  }
}

runBenchmark(main);
