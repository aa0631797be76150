/**
 * The ways the comparison benchmark lets pip reach the fake PyPI, each opened
 * with an empty cache in front of a given upstream port (the fake PyPI itself,
 * or the shaping relay in front of it):
 *
 * - direct: pip straight to the fake HTTPS PyPI (host names patched by the
 *   fixtures' resolve shim), no cache;
 * - nginx: the nginx_pypi_cache configuration, as pip's index URL;
 * - index: pipcache's index mode (`pipcache env --index`);
 * - proxy: pipcache as pip's HTTPS proxy (`pipcache env`).
 *
 * Every pip run installs the closure with `--target` into a fresh directory
 * from one shared venv (so no venv is created per run), with `--no-cache-dir`
 * and `PIP_CONFIG_FILE=/dev/null`: the machine's pip configuration stays out.
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { devNull } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PIP_RESOLVE_SHIM } from '../../test/fixtures/fake-pypi.js';
import { startDaemon, type TestDaemon } from '../../test/helpers/daemon.js';
import type { RunResult } from '../../test/helpers/proc.js';
import type { Venv } from '../../test/helpers/venv.js';
import { stopDaemon } from './common.js';
import { startNginxCache, type NginxCache } from './nginx-cache.js';

export type ColumnKind = 'direct' | 'nginx' | 'index' | 'proxy';

export const PIP_INSTALL = ['install', '--no-cache-dir', '--disable-pip-version-check', '--progress-bar', 'off'];
export const PIP_BASE_ENV = { PIP_CONFIG_FILE: devNull };

/** `host:443=127.0.0.1:PORT` for both PyPI host names (PIPCACHE_RESOLVE and the resolve shim). */
export function resolveTo(port: number): string {
  return `pypi.org:443=127.0.0.1:${port},files.pythonhosted.org:443=127.0.0.1:${port}`;
}

export interface OpenColumn {
  kind: ColumnKind | 'find-links';
  /** `pip install <args>` the way this column runs it. */
  pip(args: string[], timeoutMs: number): Promise<RunResult>;
  /** The serving process (daemon or nginx master), when there is one. */
  pid: number | undefined;
  daemon?: TestDaemon;
  nginx?: NginxCache;
  /** Stops what was started and removes its state. */
  close(): Promise<void>;
}

export interface ColumnContext {
  venv: Venv;
  caCertPath: string;
  /** Directory under which each opened cache gets its own state directory. */
  stateDir: string;
  nginxBinary: string | undefined;
  /** When set, daemons run under the V8 sampling profiler and write `<profDir>/<kind>/daemon.<pid>.cpuprofile`. */
  profDir?: string;
}

const CPU_PROF_PRELOAD = join(dirname(fileURLToPath(import.meta.url)), 'cpu-prof-preload.mjs');

export async function daemonPid(d: TestDaemon): Promise<number | undefined> {
  return (JSON.parse(await readFile(join(d.home, 'daemon.json'), 'utf8')) as { pid?: number }).pid;
}

/** Opens `kind` with an empty cache in front of 127.0.0.1:`upstreamPort`. */
export async function openColumn(ctx: ColumnContext, kind: ColumnKind, upstreamPort: number): Promise<OpenColumn> {
  const dir = await mkdtemp(join(ctx.stateDir, `${kind}-`));
  const viaEnv = (env: Record<string, string>) => (args: string[], timeoutMs: number) =>
    ctx.venv.pip(args, { ...PIP_BASE_ENV, ...env }, timeoutMs);
  switch (kind) {
    case 'direct': {
      const env = { ...PIP_BASE_ENV, PIPCACHE_TEST_RESOLVE: resolveTo(upstreamPort), PIP_CERT: ctx.caCertPath };
      return {
        kind,
        pid: undefined,
        pip: (args, timeoutMs) => ctx.venv.python([PIP_RESOLVE_SHIM, ...args], env, timeoutMs),
        close: async () => undefined,
      };
    }
    case 'nginx': {
      if (!ctx.nginxBinary) throw new Error('nginx column opened without nginx');
      const nginx = await startNginxCache(ctx.nginxBinary, dir, upstreamPort);
      return {
        kind,
        pid: nginx.pid,
        nginx,
        pip: viaEnv({ PIP_INDEX_URL: nginx.indexUrl }),
        close: async () => {
          await nginx.stop();
          await rm(dir, { recursive: true, force: true });
        },
      };
    }
    case 'index':
    case 'proxy': {
      let extraEnv: Record<string, string> | undefined;
      if (ctx.profDir) {
        await mkdir(join(ctx.profDir, kind), { recursive: true });
        extraEnv = { NODE_OPTIONS: `--import=${CPU_PROF_PRELOAD}`, PIPCACHE_BENCH_PROF_DIR: join(ctx.profDir, kind) };
      }
      const daemon = await startDaemon({ resolve: resolveTo(upstreamPort), caCertPath: ctx.caCertPath, home: dir, ...(extraEnv ? { extraEnv } : {}) });
      let env = daemon.pipEnv;
      if (kind === 'index') {
        const out = await daemon.cli(['env', '--index', '--json']);
        if (out.code !== 0) {
          await stopDaemon(daemon);
          throw new Error(`pipcache env --index --json failed: ${out.stderr}`);
        }
        env = JSON.parse(out.stdout) as Record<string, string>;
      }
      return {
        kind,
        pid: await daemonPid(daemon),
        daemon,
        pip: viaEnv(env),
        close: async () => {
          await stopDaemon(daemon);
          await rm(dir, { recursive: true, force: true });
        },
      };
    }
  }
}

/** `pip install --no-index --find-links DIR` (pip takes options after the requirement too). */
export function findLinksColumn(venv: Venv, dir: string): OpenColumn {
  return {
    kind: 'find-links',
    pid: undefined,
    pip: (args, timeoutMs) => venv.pip([...args, '--no-index', '--find-links', dir], PIP_BASE_ENV, timeoutMs),
    close: async () => undefined,
  };
}

/** Installs `root` into a fresh `--target` directory; wall time of the pip command in ms. Throws unless all `expected` packages were installed. */
export async function timedInstall(col: OpenColumn, target: string, root: string, expected: number, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  const r = await col.pip([...PIP_INSTALL, '--target', target, root], timeoutMs);
  const ms = performance.now() - t0;
  try {
    const installed = (/^Successfully installed (.*)$/m.exec(r.stdout)?.[1] ?? '').split(/\s+/).filter(Boolean).length;
    if (r.code !== 0 || r.timedOut || installed !== expected) {
      throw new Error(`${col.kind}: pip install failed or incomplete (code ${r.code}, timedOut ${r.timedOut}, ${installed}/${expected} installed)\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
    }
  } finally {
    await rm(target, { recursive: true, force: true });
  }
  return ms;
}
