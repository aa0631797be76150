/**
 * Benchmark 4: the simple page of a 2,000+ file project (numpy-shaped, from
 * the PyPI-shaped fixture set) served by pipcache, against the fake upstream
 * serving the same page directly.
 *
 *   node bench/run.mjs big-page [--rounds 3]
 *
 * Each row times one GET of `/simple/numpy/` to the last body byte, on a
 * connection that is already open (CONNECT tunnel and TLS included), in JSON
 * (PEP 691) and HTML (PEP 503):
 *   direct   the fake upstream renders and sends the page (the same-run baseline)
 *   cold     pipcache with an empty cache: fetches upstream, parses, stores, renders
 *            (a fresh daemon home for every sample)
 *   warm     pipcache with the page cached and fresh (no upstream request)
 *   offline  `pipcache offline on` after every file of the project was fetched
 * through the proxy (CONNECT + TLS) and in index mode (plain HTTP).
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { createTestCa, type TestCa } from '../test/fixtures/test-ca.js';
import { BIG_PROJECT, buildPypiShaped } from '../test/fixtures/pypi-shaped.js';
import { startFakePypi, type FakePypi } from '../test/fixtures/fake-pypi.js';
import { startDaemon, type TestDaemon } from '../test/helpers/daemon.js';
import { proxyClient } from '../test/helpers/proxy-client.js';
import { log, max, median, min, runBenchmark, stopDaemon, table, tempDir, teardown } from './lib/common.js';

const { values: opts } = parseArgs({ options: { rounds: { type: 'string', default: '3' } } });
const ROUNDS = Math.max(1, Number(opts.rounds));
const FORMATS = { json: 'application/vnd.pypi.simple.v1+json', html: 'text/html' } as const;
type Format = keyof typeof FORMATS;
type Mode = 'proxy' | 'index';
const FETCH_POOL = 16;
const TIMEOUTS = { headersTimeout: 60_000, bodyTimeout: 60_000 };

interface Sample {
  ms: number;
  bytes: number;
  files: number;
}

/** Files listed in a page body (JSON `files`, or anchors). */
function countFiles(body: string, format: Format): number {
  return format === 'json' ? (JSON.parse(body) as { files: unknown[] }).files.length : (body.match(/<a\s/g) ?? []).length;
}

/** A page getter over one kept-alive connection: the direct upstream, the proxy or index mode. */
interface PageClient {
  get(format: Format): Promise<Sample>;
  close(): Promise<void>;
}

async function timed(format: Format, fetch: () => Promise<{ status: number; body: string }>): Promise<Sample> {
  const t0 = performance.now();
  const r = await fetch();
  const ms = performance.now() - t0;
  if (r.status !== 200) throw new Error(`page answered ${r.status}: ${r.body.slice(0, 200)}`);
  return { ms, bytes: Buffer.byteLength(r.body), files: countFiles(r.body, format) };
}

function directClient(ca: TestCa, pypi: FakePypi): PageClient {
  const agent = new Agent({ connect: { ca: ca.certPem, servername: 'pypi.org' }, connections: 1 });
  const url = `https://127.0.0.1:${pypi.port}/simple/${BIG_PROJECT}/`;
  return {
    get: (format) =>
      timed(format, async () => {
        const r = await request(url, { dispatcher: agent, headers: { accept: FORMATS[format] }, ...TIMEOUTS });
        return { status: r.statusCode, body: await r.body.text() };
      }),
    close: () => agent.close(),
  };
}

function wrapProxy(client: ReturnType<typeof proxyClient>): PageClient {
  return {
    get: (format) =>
      timed(format, async () => {
        const r = await client.get(`https://pypi.org/simple/${BIG_PROJECT}/`, { accept: FORMATS[format] });
        return { status: r.status, body: r.body.toString('utf8') };
      }),
    close: () => client.close(),
  };
}

function daemonClient(d: TestDaemon, mode: Mode): PageClient {
  return mode === 'proxy' ? wrapProxy(proxyClient(d.address, d.pipEnv.PIP_CERT ?? '')) : indexClient(d);
}

function indexClient(d: TestDaemon): PageClient & { agent: Agent } {
  const agent = new Agent({ connections: 1 });
  return {
    agent,
    get: (format) =>
      timed(format, async () => {
        const r = await request(`${d.address}/simple/${BIG_PROJECT}/`, { dispatcher: agent, headers: { accept: FORMATS[format] }, ...TIMEOUTS });
        return { status: r.statusCode, body: await r.body.text() };
      }),
    close: () => agent.close(),
  };
}

/**
 * Opens the connections a page request will use, with small requests: the
 * daemon's upstream pool (a proxied request for the upstream root index, which
 * is passed through) and the client's own connection.
 */
async function openConnections(d: TestDaemon, mode: Mode): Promise<PageClient> {
  const proxy = proxyClient(d.address, d.pipEnv.PIP_CERT ?? '');
  const root = await proxy.get('https://pypi.org/simple/');
  if (root.status !== 200) throw new Error(`upstream root through the proxy answered ${root.status}`);
  if (mode === 'proxy') return wrapProxy(proxy);
  await proxy.close();
  const client = indexClient(d);
  const local = await request(`${d.address}/simple/`, { dispatcher: client.agent, ...TIMEOUTS });
  await local.body.text();
  return client;
}

async function main(): Promise<void> {
  const tmp = await tempDir('big-page');
  let pypi: FakePypi | undefined;
  let daemon: TestDaemon | undefined;
  let homes = 0;
  const freshDaemon = async (): Promise<TestDaemon> =>
    startDaemon({ resolve: pypi!.resolve, caCertPath: ca.certPath, home: join(tmp, `home-${homes++}`) });
  const ca = await createTestCa(join(tmp, 'ca'));
  try {
    log(`workdir ${tmp}`);
    const shaped = await buildPypiShaped(join(tmp, 'pypi-shaped'));
    const files = shaped.files.filter((f) => f.project === BIG_PROJECT);
    pypi = await startFakePypi({ ca, files });
    log(`${BIG_PROJECT}: ${files.length} files on the fake PyPI (127.0.0.1:${pypi.port})`);
    const samples = new Map<string, Sample[]>();
    const add = (row: string, s: Sample): void => {
      samples.set(row, [...(samples.get(row) ?? []), s]);
    };

    const direct = directClient(ca, pypi);
    for (const format of Object.keys(FORMATS) as Format[]) {
      await direct.get(format); // opens the connection
      for (let r = 0; r < ROUNDS; r++) add(`direct ${format}`, await direct.get(format));
    }
    await direct.close();

    // Cold: a fresh daemon (empty cache) for each sample.
    for (let r = 0; r < ROUNDS; r++) {
      for (const mode of ['proxy', 'index'] as const) {
        for (const format of Object.keys(FORMATS) as Format[]) {
          log(`cold ${mode} ${format}, round ${r + 1}/${ROUNDS}`);
          const d = await freshDaemon();
          try {
            const client = await openConnections(d, mode);
            add(`cold ${mode} ${format}`, await client.get(format));
            await client.close();
          } finally {
            await stopDaemon(d);
          }
        }
      }
    }

    // Warm, then offline, on one daemon.
    daemon = await freshDaemon();
    const d = daemon;
    const clients = { proxy: daemonClient(d, 'proxy'), index: daemonClient(d, 'index') };
    for (const mode of ['proxy', 'index'] as const) {
      for (const format of Object.keys(FORMATS) as Format[]) {
        await clients[mode].get(format); // the first one fetches (or renders) the page
        for (let r = 0; r < ROUNDS; r++) add(`warm ${mode} ${format}`, await clients[mode].get(format));
      }
    }

    log(`fetching the ${files.length} files (and their .metadata) once through the daemon`);
    const t0 = performance.now();
    const fetcher = new Agent({ connections: FETCH_POOL });
    const jobs = files.flatMap((f) => {
      const url = `${d.address}/files/${f.project}/${encodeURIComponent(f.version)}/${encodeURIComponent(f.filename)}`;
      return f.metadata ? [url, `${url}.metadata`] : [url];
    });
    let next = 0;
    await Promise.all(
      Array.from({ length: FETCH_POOL }, async () => {
        while (next < jobs.length) {
          const url = jobs[next++] as string;
          const r = await request(url, { dispatcher: fetcher, ...TIMEOUTS });
          await r.body.arrayBuffer();
          if (r.statusCode !== 200) throw new Error(`${url}: ${r.statusCode}`);
        }
      }),
    );
    await fetcher.close();
    const fillMs = performance.now() - t0;

    const off = await d.cli(['offline', 'on']);
    if (off.code !== 0) throw new Error(`pipcache offline on failed: ${off.stderr}`);
    pypi.resetCounters();
    for (const mode of ['proxy', 'index'] as const) {
      for (const format of Object.keys(FORMATS) as Format[]) {
        await clients[mode].get(format); // renders the offline view once
        for (let r = 0; r < ROUNDS; r++) add(`offline ${mode} ${format}`, await clients[mode].get(format));
      }
    }
    const upstreamOffline = pypi.counters.requests.length;
    await clients.proxy.close();
    await clients.index.close();
    await stopDaemon(daemon);
    daemon = undefined;

    const med = (row: string): number => median((samples.get(row) ?? []).map((s) => s.ms));
    console.log('');
    console.log(`== /simple/${BIG_PROJECT}/ with ${files.length} files: one GET to the last byte on an open connection, ${ROUNDS} samples per row ==`);
    console.log(`cache fill for the offline rows: ${jobs.length} files and .metadata files in ${(fillMs / 1000).toFixed(1)} s`);
    console.log('');
    const rows = [...samples.keys()].map((row) => {
      const s = samples.get(row) ?? [];
      const ms = s.map((x) => x.ms);
      const format = row.endsWith('json') ? 'json' : 'html';
      return [
        row,
        med(row).toFixed(1),
        min(ms).toFixed(1),
        max(ms).toFixed(1),
        ((s[0]?.bytes ?? 0) / 1024).toFixed(0),
        String(s[0]?.files ?? 0),
        (med(row) / med(`direct ${format}`)).toFixed(2),
      ];
    });
    console.log(table(['variant', 'median ms', 'min ms', 'max ms', 'KiB', 'files', 'x direct'], rows));
    console.log(`upstream requests while offline: ${upstreamOffline}`);
    console.log('');
    for (const format of Object.keys(FORMATS) as Format[]) {
      console.log(
        `big page ${format}: direct ${med(`direct ${format}`).toFixed(1)} ms; proxy cold ${med(`cold proxy ${format}`).toFixed(1)}, warm ${med(`warm proxy ${format}`).toFixed(1)}, offline ${med(`offline proxy ${format}`).toFixed(1)} ms; ` +
          `index cold ${med(`cold index ${format}`).toFixed(1)}, warm ${med(`warm index ${format}`).toFixed(1)}, offline ${med(`offline index ${format}`).toFixed(1)} ms (median of ${ROUNDS})`,
      );
    }
  } finally {
    await teardown({ daemon, pypi, tmp });
  }
}

runBenchmark(main);
