import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestCa, type TestCa } from '../fixtures/test-ca.js';
import { buildPackages, describeFile, type BuiltFile, type PackageSpec } from '../fixtures/packages.js';
import { startFakePypi, type FakePypi } from '../fixtures/fake-pypi.js';
import { createVenv, type Venv } from './venv.js';
import { startDaemon, type TestDaemon } from './daemon.js';

/** What an integration test runs against: built packages, a fake PyPI serving them, daemons, venvs. */
export interface World {
  dir: string;
  ca: TestCa;
  files: BuiltFile[];
  pypi: FakePypi;
  /** The file built for project (normalized) and version. */
  file(project: string, version: string): BuiltFile;
  /** A new venv in the world's temp dir. */
  venv(python?: string): Promise<Venv>;
  /** Starts a daemon resolving the fake PyPI's hosts (plus `resolve`), its home in the temp dir by default; stopped by `close`. */
  startDaemon(opts?: { home?: string; resolve?: string; extraEnv?: Record<string, string> }): Promise<TestDaemon>;
  /** Archive GETs the fake PyPI has served so far. */
  archiveFetches(): number;
  /**
   * What reached the fake PyPI since its counters were last reset: TCP
   * connections, and every request as `METHOD host path` (a request on a
   * kept-alive socket opens no new connection, so both are needed to say "none").
   */
  upstreamTraffic(): { connections: number; requests: string[] };
  /** Stops every daemon it started and the fake PyPI, then removes the temp dir. */
  close(): Promise<void>;
}

export interface WorldOptions {
  /** Existing wheels to serve too (e.g. real setuptools and wheel). */
  extraWheels?: string[];
  /** Which built files the fake PyPI serves (default: all). */
  serve?: (f: BuiltFile) => boolean;
}

export async function createWorld(name: string, specs: PackageSpec[], opts: WorldOptions = {}): Promise<World> {
  const dir = await mkdtemp(join(tmpdir(), `pipcache-${name}-`));
  const ca = await createTestCa(join(dir, 'ca'));
  const files = await buildPackages(specs, join(dir, 'dist'));
  for (const w of opts.extraWheels ?? []) files.push(await describeFile(w, undefined, join(dir, 'meta')));
  const pypi = await startFakePypi({ ca, files: files.filter(opts.serve ?? (() => true)) });
  const daemons: TestDaemon[] = [];
  let venvs = 0;
  let homes = 0;
  let pypiUp = true;
  return {
    dir,
    ca,
    files,
    pypi,
    file(project, version) {
      const f = files.find((x) => x.project === project && x.version === version);
      if (!f) throw new Error(`no built file for ${project} ${version}`);
      return f;
    },
    venv: (python = 'python3') => createVenv(join(dir, `venv-${venvs++}`), python),
    async startDaemon(o = {}) {
      const d = await startDaemon({
        resolve: o.resolve ? `${pypi.resolve},${o.resolve}` : pypi.resolve,
        caCertPath: ca.certPath,
        home: o.home ?? join(dir, `home-${homes++}`),
        ...(o.extraEnv ? { extraEnv: o.extraEnv } : {}),
      });
      daemons.push(d);
      return d;
    },
    archiveFetches: () => [...pypi.counters.files.values()].reduce((a, b) => a + b, 0),
    upstreamTraffic: () => ({
      connections: pypi.counters.connections,
      requests: pypi.counters.requests.map((r) => `${r.method} ${r.host} ${r.path}`),
    }),
    async close() {
      for (const d of daemons) await d.stop();
      if (pypiUp) {
        pypiUp = false;
        await pypi.close().catch(() => undefined);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
