import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, type TestDaemon } from '../helpers/daemon.js';
import { run, type RunResult } from '../helpers/proc.js';
import type { Venv } from '../helpers/venv.js';
import { createWorld, type World } from '../helpers/world.js';

/**
 * `pipcache env` must work whatever the shell already sets: each case puts
 * one setting that overrides PIP_CERT or bypasses the proxy into the
 * caller's environment, shows real pip failing without env's output, and
 * passing once that output is evaluated by bash. `doctor` runs real pip too.
 */
const PY313 = '/root/.pyenv/versions/3.13.0/bin/python3.13';

let world: World;
let daemon: TestDaemon;
let venv: Venv;
let bundle: string;
let dests = 0;

beforeAll(async () => {
  world = await createWorld('env-doctor', [{ name: 'envdoc-pkg', version: '1.0' }]);
  daemon = await world.startDaemon();
  venv = await world.venv();
  bundle = join(daemon.home, 'ca', 'bundle.pem');
});

afterAll(async () => {
  await world?.close();
});

/** A shell with nothing of pipcache in it; the machine's own pip.conf files are hidden unless a case names one. */
function caller(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: `${venv.bin}:/usr/bin:/bin`,
    HOME: venv.home,
    PIPCACHE_HOME: daemon.home,
    PIP_DISABLE_PIP_VERSION_CHECK: '1',
    PIP_NO_INPUT: '1',
    PIP_CONFIG_FILE: '/dev/null',
    ...extra,
  };
}

/** What `env` printed before it read the caller's shell: proxy variables and PIP_CERT. */
function oldOutput(): Record<string, string> {
  return { ...daemon.pipEnv };
}

function proxyOnly(): Record<string, string> {
  const { PIP_CERT: _cert, ...rest } = daemon.pipEnv;
  return rest;
}

interface Shell {
  /** Evaluate `pipcache env`'s output first. */
  applyEnv?: boolean;
  /** Variables to unset after that. */
  drop?: string[];
  python?: string;
}

/** bash, as a user would: optionally `eval "$(pipcache env)"`, then the command. */
async function inShell(env: Record<string, string>, command: string, opts: Shell = {}): Promise<RunResult & { envStderr: string }> {
  const errFile = join(world.dir, `env-stderr-${dests++}`);
  const script = [
    opts.applyEnv ? `eval "$("$PIPCACHE_NODE" "$PIPCACHE_CLI" env 2>"${errFile}")" || exit 99` : '',
    ...(opts.drop ?? []).map((n) => `unset ${n}`),
    command,
  ].join('\n');
  const r = await run('bash', ['-c', script], {
    env: { ...env, PIPCACHE_NODE: process.execPath, PIPCACHE_CLI: CLI, PY: opts.python ?? venv.pythonPath },
    timeoutMs: 120_000,
  });
  return { ...r, envStderr: await readFile(errFile, 'utf8').catch(() => '') };
}

async function pipDownload(env: Record<string, string>, opts: Shell = {}): Promise<RunResult & { envStderr: string }> {
  const dest = await mkdtemp(join(world.dir, `dest-${dests++}-`));
  return inShell(env, `exec "$PY" -m pip download --no-deps --no-cache-dir --retries 0 --timeout 10 --dest ${dest} envdoc-pkg==1.0`, opts);
}

const UNTRUSTED = /CERTIFICATE_VERIFY_FAILED/;

function expectFails(r: RunResult, why: RegExp): void {
  expect(r.code, r.stdout + r.stderr).not.toBe(0);
  expect(r.stdout + r.stderr).toMatch(why);
  expect(r.stdout + r.stderr).not.toContain('Saved');
}

function expectPasses(r: RunResult): void {
  expect(r.code, r.stdout + r.stderr).toBe(0);
  expect(r.stdout).toMatch(/Saved .*envdoc_pkg-1\.0/);
}

describe('pipcache env in a shell that already has settings', () => {
  it('REQUESTS_CA_BUNDLE elsewhere: it overrides PIP_CERT until env points it at the bundle', async () => {
    const shell = caller({ REQUESTS_CA_BUNDLE: world.ca.certPath });
    expectFails(await pipDownload({ ...shell, ...oldOutput() }), UNTRUSTED);
    const r = await pipDownload(shell, { applyEnv: true });
    expectPasses(r);
    // The file's only certificate is in the bundle (the daemon runs with it in NODE_EXTRA_CA_CERTS): nothing is lost.
    expect(r.envStderr).not.toContain('REQUESTS_CA_BUNDLE was');
  });

  it('CURL_CA_BUNDLE elsewhere: the same for the variable requests reads second', async () => {
    const shell = caller({ CURL_CA_BUNDLE: world.ca.certPath });
    expectFails(await pipDownload({ ...shell, ...oldOutput() }), UNTRUSTED);
    expectPasses(await pipDownload(shell, { applyEnv: true }));
  });

  it.skipIf(!existsSync(PY313))('SSL_CERT_FILE elsewhere: pip 24.2 without --cert trusts it through a proxy, so env points it at the bundle', async () => {
    const shell = caller({ SSL_CERT_FILE: world.ca.certPath });
    expectFails(await pipDownload({ ...shell, ...proxyOnly() }, { python: PY313 }), UNTRUSTED);
    expectPasses(await pipDownload(shell, { applyEnv: true, drop: ['PIP_CERT'], python: PY313 }));
  });

  it('NO_PROXY covering pypi.org: the covering entries are removed, the others kept', async () => {
    const shell = caller({ NO_PROXY: 'localhost,.org', no_proxy: 'pypi.org,files.pythonhosted.org' });
    // Straight to pypi.org, which resolves to nothing the test controls: anything but a download.
    expectFails(await pipDownload({ ...shell, ...oldOutput() }), /No matching distribution|Failed to establish|NewConnectionError|Max retries/);
    const r = await pipDownload(shell, { applyEnv: true });
    expectPasses(r);
    expect(r.envStderr).toContain('NO_PROXY listed .org');
    const printed = await inShell(shell, 'printf "%s|%s" "$NO_PROXY" "${no_proxy-unset}"', { applyEnv: true });
    expect(printed.stdout).toBe('localhost|unset');
  });

  it('pip.conf cert = another file: PIP_CERT overrides it, and env says so', async () => {
    const conf = join(world.dir, 'pip-cert.conf');
    await writeFile(conf, `[global]\ncert = ${world.ca.certPath}\n`);
    const shell = caller({ PIP_CONFIG_FILE: conf });
    expectFails(await pipDownload({ ...shell, ...proxyOnly() }), UNTRUSTED);
    const r = await pipDownload(shell, { applyEnv: true });
    expectPasses(r);
    expect(r.envStderr).toContain(`${conf} [global] sets cert = ${world.ca.certPath}`);
  });

  it('--json stays the flat map of variables to set', async () => {
    const r = await daemon.cli(['env', '--json'], 30_000, { env: { REQUESTS_CA_BUNDLE: world.ca.certPath } });
    expect(JSON.parse(r.stdout)).toEqual({ ...daemon.pipEnv, REQUESTS_CA_BUNDLE: bundle });
  });
});

describe('pipcache doctor', () => {
  const doctor = (env: Record<string, string>, opts: Shell = {}, json = false) =>
    inShell(env, `exec "$PIPCACHE_NODE" "$PIPCACHE_CLI" doctor --python "$PY"${json ? ' --json' : ''}`, opts);

  it('passes once env is applied: a real pip request reached the daemon', async () => {
    const r = await doctor(caller(), { applyEnv: true }, true);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { ok: boolean; checks: { name: string; ok: boolean }[] };
    expect(report.ok).toBe(true);
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    const probes = (await daemon.logs()).filter((l) => l.msg === 'request' && l.path?.startsWith('/simple/pipcache-doctor-probe-'));
    expect(probes.length).toBeGreaterThan(0);
  });

  it('fails with the exact fix when REQUESTS_CA_BUNDLE points elsewhere', async () => {
    const r = await inShell(caller(), `export REQUESTS_CA_BUNDLE=${world.ca.certPath}\nexec "$PIPCACHE_NODE" "$PIPCACHE_CLI" doctor --python "$PY"`, {
      applyEnv: true,
    });
    expect(r.code, r.stdout).toBe(1);
    expect(r.stdout).toMatch(/FIX\s+trust\s+.*REQUESTS_CA_BUNDLE/);
    expect(r.stdout).toContain(`fix: export REQUESTS_CA_BUNDLE=${bundle}`);
    expect(r.stdout).toMatch(/FIX\s+probe\s+.*never reached the daemon/);
  });

  it('fails with the exact fix when the proxy variables are missing', async () => {
    const r = await doctor(caller());
    expect(r.code, r.stdout).toBe(1);
    expect(r.stdout).toMatch(/FIX\s+proxy\s+no HTTPS proxy is set for pip/);
    expect(r.stdout).toContain('fix: eval "$(pipcache env)"');
  });
});
