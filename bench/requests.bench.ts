/**
 * Benchmark 8: the cost of one small request, the unit of an install. pip
 * makes about three per package (the page, the PEP 658 .metadata, the wheel),
 * so with 16 installs sharing two cores the daemon's CPU per request, not its
 * bytes per second, decides how long every pip waits.
 *
 *   node bench/run.mjs requests [--requests 1000] [--rounds 3] [--cpu-prof]
 *
 * Warm cache. For each kind (the project page as JSON, the .metadata, a small
 * wheel) and mode (index mode over plain HTTP; the proxy, CONNECT + TLS), one
 * client sends --requests sequential GETs on one kept-alive connection. The
 * baseline is a bare Node server answering the same wheel bytes for every GET
 * (`lib/file-server.ts`, its own process) over HTTP and over TLS. Printed per
 * row: requests per second and the serving process's CPU ms per request (from
 * /proc, user + system), medians of --rounds. --cpu-prof profiles the daemon
 * over the whole run and prints its self time.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Agent, request, type Dispatcher } from 'undici';
import { createTestCa } from '../test/fixtures/test-ca.js';
import { startFakePypi, type FakePypi } from '../test/fixtures/fake-pypi.js';
import { pythonhostedPath } from '../test/fixtures/simple-pages.js';
import { startDaemon, type TestDaemon } from '../test/helpers/daemon.js';
import { proxyClient } from '../test/helpers/proxy-client.js';
import { closureSpecs } from './lib/closure.js';
import { log, median, runBenchmark, startChildServer, stopDaemon, table, tempDir, teardown, type ChildServer } from './lib/common.js';
import { summarizeProfile } from './lib/cpuprofile.js';
import { indexFileUrl } from './lib/index-page.js';
import { daemonPid } from './lib/install-columns.js';
import { prebuilt } from './lib/prebuilt.js';
import { cpuSeconds } from './lib/proc-stats.js';

const { values: opts } = parseArgs({
  options: {
    requests: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '3' },
    'cpu-prof': { type: 'boolean', default: false },
  },
});
const REQUESTS = Math.max(1, Number(opts.requests));
const ROUNDS = Math.max(1, Number(opts.rounds));
const JSON_ACCEPT = 'application/vnd.pypi.simple.v1+json';
const CPU_PROF_PRELOAD = fileURLToPath(new URL('./lib/cpu-prof-preload.mjs', import.meta.url));

/** One GET; resolves with the body length (checked by the caller). */
type Get = () => Promise<number>;

interface Row {
  name: string;
  pid: number | undefined;
  get: Get;
  /** Body bytes every answer must have. */
  bytes: number;
}

/** GETs over one kept-alive connection of `dispatcher`. */
function getter(dispatcher: Dispatcher, url: string, headers: Record<string, string> = {}): Get {
  return async () => {
    const res = await request(url, { dispatcher, headers, headersTimeout: 30_000, bodyTimeout: 30_000 });
    const body = Buffer.from(await res.body.arrayBuffer());
    if (res.statusCode !== 200) throw new Error(`GET ${url}: ${res.statusCode} ${body.toString('utf8', 0, 200)}`);
    return body.length;
  };
}

/** Requests per second and CPU ms per request of `pid` over REQUESTS sequential GETs. */
async function measure(row: Row): Promise<{ rps: number; cpuMs: number }> {
  await row.get(); // the connection is open and the answer warm
  const cpu0 = cpuSeconds(row.pid);
  const t0 = performance.now();
  for (let i = 0; i < REQUESTS; i++) {
    const n = await row.get();
    if (n !== row.bytes) throw new Error(`${row.name}: ${n} bytes, expected ${row.bytes}`);
  }
  const ms = performance.now() - t0;
  const cpu1 = cpuSeconds(row.pid);
  const cpuMs = cpu0 === undefined || cpu1 === undefined ? Number.NaN : ((cpu1 - cpu0) * 1000) / REQUESTS;
  return { rps: (REQUESTS * 1000) / ms, cpuMs };
}

async function main(): Promise<void> {
  const tmp = await tempDir('requests');
  let pypi: FakePypi | undefined;
  let daemon: TestDaemon | undefined;
  const servers: ChildServer[] = [];
  const closers: (() => Promise<void>)[] = [];
  try {
    const ca = await createTestCa(join(tmp, 'ca'));
    const files = (await prebuilt('closure-50', closureSpecs())).filter((f) => f.kind === 'wheel');
    // The median wheel (by size) with a .metadata: the shape of an install's files.
    const withMeta = files.filter((f) => f.metadata).sort((a, b) => a.size - b.size);
    const wheel = withMeta[Math.floor(withMeta.length / 2)];
    if (!wheel?.metadata) throw new Error('no wheel with metadata in the closure');
    pypi = await startFakePypi({ ca, files });
    const leaf = await ca.issue(['127.0.0.1', 'localhost']);
    await writeFile(join(tmp, 'leaf-cert.pem'), leaf.certPem);
    await writeFile(join(tmp, 'leaf-key.pem'), leaf.keyPem, { mode: 0o600 });
    servers.push(await startChildServer('file-server.ts', ['http', wheel.path]));
    servers.push(await startChildServer('file-server.ts', ['https', wheel.path, join(tmp, 'leaf-cert.pem'), join(tmp, 'leaf-key.pem')]));
    const [httpServer, tlsServer] = servers as [ChildServer, ChildServer];
    const profDir = join(tmp, 'prof');
    if (opts['cpu-prof']) await mkdir(profDir);
    daemon = await startDaemon({
      resolve: pypi.resolve,
      caCertPath: ca.certPath,
      home: join(tmp, 'home'),
      ...(opts['cpu-prof'] ? { extraEnv: { NODE_OPTIONS: `--import=${CPU_PROF_PRELOAD}`, PIPCACHE_BENCH_PROF_DIR: profDir } } : {}),
    });
    const pid = await daemonPid(daemon);
    log(`${wheel.filename}: ${wheel.size} B; ${REQUESTS} requests per row, ${ROUNDS} rounds`);

    // Index mode: the page, then the file and metadata URLs it lists.
    const plain = new Agent({ connections: 1 });
    closers.push(() => plain.close());
    const listed = await indexFileUrl(daemon, wheel.project, wheel.filename, plain);
    const indexPage = listed.pageUrl;
    const pageBytes = await getter(plain, indexPage, { accept: JSON_ACCEPT })();
    const metaBytes = await getter(plain, `${listed.url}.metadata`)();
    // Proxy mode: as pip sends them.
    const proxied = proxyClient(daemon.address, daemon.pipEnv.PIP_CERT ?? '');
    closers.push(() => proxied.close());
    const viaProxy = (url: string, headers: Record<string, string> = {}): Get => async () => {
      const r = await proxied.get(url, headers);
      if (r.status !== 200) throw new Error(`GET ${url} through the proxy: ${r.status}`);
      return r.body.length;
    };
    const upstreamFile = `https://files.pythonhosted.org${pythonhostedPath(wheel)}`;
    const proxyPage = `https://pypi.org/simple/${wheel.project}/`;
    // Its URLs are absolute (index mode's are relative to the daemon): another size.
    const proxyPageBytes = await viaProxy(proxyPage, { accept: JSON_ACCEPT })();
    // Everything fetched once, then published: every row below is a hit.
    for (const g of [viaProxy(proxyPage, { accept: JSON_ACCEPT }), viaProxy(`${upstreamFile}.metadata`), viaProxy(upstreamFile), getter(plain, listed.url)]) await g();
    await daemon.published();

    const tlsAgent = new Agent({ connections: 1, connect: { ca: ca.certPem } });
    const httpAgent = new Agent({ connections: 1 });
    closers.push(() => tlsAgent.close(), () => httpAgent.close());
    const rows: Row[] = [
      { name: 'bare Node HTTP, the wheel', pid: httpServer.child.pid, get: getter(httpAgent, `http://127.0.0.1:${httpServer.port}/w`), bytes: wheel.size },
      { name: 'index mode, the wheel', pid, get: getter(plain, listed.url), bytes: wheel.size },
      { name: 'index mode, the .metadata', pid, get: getter(plain, `${listed.url}.metadata`), bytes: metaBytes },
      { name: 'index mode, the page (JSON)', pid, get: getter(plain, indexPage, { accept: JSON_ACCEPT }), bytes: pageBytes },
      { name: 'bare Node TLS, the wheel', pid: tlsServer.child.pid, get: getter(tlsAgent, `https://127.0.0.1:${tlsServer.port}/w`), bytes: wheel.size },
      { name: 'proxy, the wheel', pid, get: viaProxy(upstreamFile), bytes: wheel.size },
      { name: 'proxy, the .metadata', pid, get: viaProxy(`${upstreamFile}.metadata`), bytes: metaBytes },
      { name: 'proxy, the page (JSON)', pid, get: viaProxy(proxyPage, { accept: JSON_ACCEPT }), bytes: proxyPageBytes },
    ];
    const results = new Map<string, { rps: number[]; cpu: number[] }>();
    for (let r = 0; r < ROUNDS; r++) {
      log(`round ${r + 1}/${ROUNDS}`);
      for (const row of rows) {
        const m = await measure(row);
        const got = results.get(row.name) ?? { rps: [], cpu: [] };
        got.rps.push(m.rps);
        got.cpu.push(m.cpuMs);
        results.set(row.name, got);
      }
    }
    const base = (name: string): number => median(results.get(name)?.rps ?? [Number.NaN]);
    console.log('');
    console.log(`== small requests, warm: ${REQUESTS} sequential GETs per row on one kept-alive connection, medians of ${ROUNDS} ==`);
    console.log(
      table(
        ['row', 'bytes', 'requests/s', 'vs bare server', 'server CPU ms per request', 'every round (requests/s)'],
        rows.map((row) => {
          const m = results.get(row.name)!;
          const bare = row.name.startsWith('proxy') || row.name.includes('TLS') ? base('bare Node TLS, the wheel') : base('bare Node HTTP, the wheel');
          return [row.name, String(row.bytes), median(m.rps).toFixed(0), `${(median(m.rps) / bare).toFixed(2)}x`, median(m.cpu).toFixed(3), m.rps.map((v) => v.toFixed(0)).join(' ')];
        }),
      ),
    );
    if (opts['cpu-prof']) {
      for (const close of closers.splice(0)) await close();
      await stopDaemon(daemon);
      daemon = undefined;
      for (const name of (await readdir(profDir)).filter((n) => n.endsWith('.cpuprofile'))) {
        const p = await summarizeProfile(join(profDir, name), 30);
        const busy = p.origins.filter((o) => o.origin !== '(idle)').reduce((acc, o) => acc + o.ms, 0);
        console.log('');
        console.log(`== daemon CPU profile (${name}): non-idle ${(busy / 1000).toFixed(2)} s of ${(p.totalMs / 1000).toFixed(1)} s ==`);
        console.log(table(['self time by origin', 'ms'], p.origins.slice(0, 14).map((o) => [o.origin, o.ms.toFixed(0)])));
        console.log(table(['top self-time functions', 'ms', 'where'], p.functions.map((f) => [f.name, f.ms.toFixed(0), f.where])));
      }
    }
  } finally {
    for (const close of closers) await close().catch(() => undefined);
    for (const server of servers) await server.stop();
    await teardown({ daemon, pypi, tmp });
  }
}

runBenchmark(main);
