import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, type RunResult } from '../helpers/proc.js';

/**
 * The packed CLI, installed the way a user without the repository would:
 * `npm install -g` of the tarball into a fresh prefix, then the installed
 * `pipcache` command found on PATH, run from a directory outside the
 * workspace so nothing can resolve back into it.
 */
const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const INSTALL_TIMEOUT_MS = 300_000;

let work: string;
let prefix: string;
let home: string;
let tarball: string;

const explain = (what: string, r: RunResult): string =>
  `${what} failed (exit ${r.code}${r.timedOut ? ', timed out' : ''}):\n${r.stderr}\n${r.stdout}`;

function pipcache(args: string[]): Promise<RunResult> {
  return run('pipcache', args, {
    cwd: work,
    env: { PATH: `${join(prefix, 'bin')}:${process.env.PATH}`, HOME: home, PIPCACHE_HOME: join(home, 'cache'), PIPCACHE_PORT: '0' },
    timeoutMs: 60_000,
  });
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'pipcache-pack-test-'));
  prefix = join(work, 'prefix');
  home = join(work, 'home');
  const packed = await run(process.execPath, [join(ROOT, 'scripts/pack.mjs'), '--no-build', '--out', work], { timeoutMs: 120_000 });
  if (packed.code !== 0) throw new Error(explain('scripts/pack.mjs', packed));
  tarball = packed.stdout.trim();
  const installed = await run(
    'npm',
    ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--loglevel=error', tarball],
    { cwd: work, env: { ...process.env, HOME: process.env.HOME ?? home }, timeoutMs: INSTALL_TIMEOUT_MS },
  );
  if (installed.code !== 0) throw new Error(explain(`npm install -g ${tarball}`, installed));
}, INSTALL_TIMEOUT_MS + 150_000);

afterAll(async () => {
  if (home) await pipcache(['stop']).catch(() => undefined);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the CLI installed from its tarball, without the repository', () => {
  it('carries the workspace packages inside and nothing of the sources', async () => {
    const listed = await run('tar', ['tzf', tarball], { timeoutMs: 30_000 });
    const files = listed.stdout.split('\n');
    for (const name of ['shared', 'pep', 'daemon']) expect(files).toContain(`package/node_modules/@pipcache/${name}/package.json`);
    expect(files).toContain('package/dist/main.js');
    expect(files.filter((f) => f.endsWith('.ts') || f.endsWith('.map'))).toEqual([]);
    const manifest = JSON.parse(await readFile(join(prefix, 'lib/node_modules/pipcache/package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    expect(Object.values(manifest.dependencies).filter((v) => v.startsWith('workspace:'))).toEqual([]);
  });

  it('starts, prints env, reports status and stops', async () => {
    const started = await pipcache(['start']);
    expect(started.code, explain('pipcache start', started)).toBe(0);
    expect(started.stdout).toMatch(/pipcache started at http:\/\/127\.0\.0\.1:\d+/);

    const status = await pipcache(['status', '--json']);
    expect(status.code, explain('pipcache status', status)).toBe(0);
    const st = JSON.parse(status.stdout) as { pid: number; address: string; home: string };
    expect(st.home).toBe(join(home, 'cache'));
    // The daemon that answers is the installed one, not the workspace's.
    const cmdline = (await readFile(`/proc/${st.pid}/cmdline`, 'utf8')).split('\0');
    expect(cmdline.some((a) => a.startsWith(join(prefix, 'lib/node_modules/pipcache/node_modules/@pipcache/daemon/')))).toBe(true);

    const env = await pipcache(['env', '--json']);
    expect(env.code, explain('pipcache env', env)).toBe(0);
    const vars = JSON.parse(env.stdout) as Record<string, string>;
    expect(vars.HTTPS_PROXY).toContain(st.address.replace(/^http:\/\//, ''));
    expect((await stat(vars.PIP_CERT ?? '')).isFile()).toBe(true);

    const stopped = await pipcache(['stop']);
    expect(stopped.code, explain('pipcache stop', stopped)).toBe(0);
    expect(stopped.stdout).toContain(`pipcache stopped (pid ${st.pid})`);
    expect(await readdir(join(home, 'cache'))).not.toContain('daemon.sock');
  });
});
