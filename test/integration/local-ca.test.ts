import { existsSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDaemon } from '../helpers/daemon.js';
import { run, type RunResult } from '../helpers/proc.js';
import { createWorld, type World } from '../helpers/world.js';

/**
 * The local CA may sign only for the intercepted hosts (X.509 name
 * constraints), and is rotated when they change, with the bundle kept at
 * the same path.
 */
const PY313 = '/root/.pyenv/versions/3.13.0/bin/python3.13';

let world: World;
let daemon: TestDaemon;
let leaves = 0;

beforeAll(async () => {
  world = await createWorld('local-ca', [
    { name: 'ca-app', version: '1.0', requires: ['ca-dep'] },
    { name: 'ca-dep', version: '1.0' },
    { name: 'ca-later', version: '1.0' },
  ]);
  daemon = await world.startDaemon();
});

afterAll(async () => {
  await world?.close();
});

const openssl = (args: string[], input?: string): Promise<RunResult> =>
  run('openssl', args, { env: { PATH: process.env.PATH }, timeoutMs: 30_000, ...(input !== undefined ? { input } : {}) });

const caPaths = (home: string) => ({ cert: join(home, 'ca', 'ca.pem'), key: join(home, 'ca', 'ca-key.pem'), bundle: join(home, 'ca', 'bundle.pem') });

/** What a stolen CA key could do: sign a leaf for `san` (e.g. `DNS:evil.example`, `IP:127.0.0.1`) with plain openssl. */
async function signLeaf(home: string, cn: string, san: string): Promise<string> {
  const base = join(world.dir, `leaf-${leaves++}`);
  await writeFile(`${base}.ext`, `subjectAltName=${san}\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n`);
  const req = await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${base}.key`, '-subj', `/CN=${cn}`, '-out', `${base}.csr`]);
  expect(req.code, req.stderr).toBe(0);
  const { cert, key } = caPaths(home);
  const sign = await openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', cert, '-CAkey', key, '-set_serial', String(1000 + leaves), '-days', '30', '-extfile', `${base}.ext`, '-out', `${base}.pem`]);
  expect(sign.code, sign.stderr).toBe(0);
  return `${base}.pem`;
}

/** `openssl verify -x509_strict` of a leaf against the home's CA alone. */
const verify = (home: string, leaf: string): Promise<RunResult> => openssl(['verify', '-x509_strict', '-CAfile', caPaths(home).cert, leaf]);

/** The certificate the daemon presents inside a CONNECT tunnel to `host`. */
async function servedLeaf(d: TestDaemon, host: string): Promise<string> {
  const { port } = new URL(d.address);
  const r = await openssl(['s_client', '-proxy', `127.0.0.1:${port}`, '-connect', `${host}:443`, '-servername', host, '-showcerts'], '');
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(r.stdout)?.[0];
  if (!pem) throw new Error(`no certificate from the daemon for ${host}: ${r.stderr}`);
  const path = join(world.dir, `served-${leaves++}.pem`);
  await writeFile(path, `${pem}\n`);
  return path;
}

async function waitForLog(d: TestDaemon, msg: string, after: number): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const line = (await d.logs()).slice(after).find((l) => l.msg.startsWith(msg));
    if (line) return line;
    if (Date.now() > deadline) throw new Error(`no log line "${msg}" within 20 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the name-constrained local CA', () => {
  it('carries critical name constraints that permit only the intercepted hosts', async () => {
    const text = await openssl(['x509', '-in', caPaths(daemon.home).cert, '-noout', '-text']);
    expect(text.stdout).toMatch(/X509v3 Name Constraints: critical\s+Permitted:\s+DNS:files\.pythonhosted\.org\s+DNS:pypi\.org\s+Excluded:\s+IP:0\.0\.0\.0\/0\.0\.0\.0\s+IP:0:0:0:0:0:0:0:0\/0:0:0:0:0:0:0:0/);
  });

  it('a leaf it signs for another host fails OpenSSL verification; one for an intercepted host passes', async () => {
    const home = daemon.home;
    for (const [cn, san] of [
      ['evil.example', 'DNS:evil.example'],
      ['pypi.org.evil.example', 'DNS:pypi.org.evil.example'],
      ['evilpypi.org', 'DNS:evilpypi.org'],
    ] as const) {
      const r = await verify(home, await signLeaf(home, cn, san));
      expect(r.code, `${san}: ${r.stdout}`).not.toBe(0);
      expect(r.stdout + r.stderr).toContain('permitted subtree violation');
    }
    const ip = await verify(home, await signLeaf(home, '127.0.0.1', 'IP:127.0.0.1'));
    expect(ip.code).not.toBe(0);
    expect(ip.stdout + ip.stderr).toContain('excluded subtree violation');
    for (const host of ['pypi.org', 'files.pythonhosted.org']) {
      const r = await verify(home, await signLeaf(home, host, `DNS:${host}`));
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain(': OK');
    }
    // And what the daemon itself serves inside a tunnel passes strict checks and the host name check.
    const served = await servedLeaf(daemon, 'pypi.org');
    const r = await openssl(['verify', '-x509_strict', '-verify_hostname', 'pypi.org', '-CAfile', caPaths(home).cert, served]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  it('pip 24.2 on Python 3.13 (strict X.509) and pip 23.2 on python3 install through the proxy', async () => {
    expect(existsSync(PY313), `${PY313} is needed to test pip's strict X.509 checks`).toBe(true);
    for (const [python, pip] of [
      [PY313, 'pip 24.2 '],
      ['python3', 'pip 23.2'],
    ] as const) {
      const v = await world.venv(python);
      expect((await v.pip(['--version'])).stdout).toContain(pip);
      const r = await v.pip(['install', '--no-cache-dir', 'ca-app'], daemon.pipEnv);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      expect(r.stdout).toContain('Successfully installed ca-app-1.0 ca-dep-1.0');
    }
  });

  it('changing interceptHosts in config.json rotates the CA; the bundle path stays and pip keeps working', async () => {
    const p = caPaths(daemon.home);
    const oldCa = await readFile(p.cert, 'utf8');
    const logged = (await daemon.logs()).length;
    await writeFile(join(daemon.home, 'config.json'), JSON.stringify({ interceptHosts: ['pypi.org', 'files.pythonhosted.org', 'mirror.example'] }));
    const line = await waitForLog(daemon, 'rotated the local CA', logged);
    expect(line).toMatchObject({ from: ['files.pythonhosted.org', 'pypi.org'], permits: ['files.pythonhosted.org', 'mirror.example', 'pypi.org'], bundle: p.bundle });

    const newCa = await readFile(p.cert, 'utf8');
    expect(newCa).not.toBe(oldCa);
    expect((await stat(p.key)).mode & 0o777).toBe(0o600);
    const bundle = await readFile(p.bundle, 'utf8');
    expect(bundle).toContain(newCa.trim());
    expect(bundle).not.toContain(oldCa.trim());
    expect(daemon.pipEnv.PIP_CERT).toBe(p.bundle);

    const mirror = await verify(daemon.home, await signLeaf(daemon.home, 'mirror.example', 'DNS:mirror.example'));
    expect(mirror.code, mirror.stdout + mirror.stderr).toBe(0);
    const evil = await verify(daemon.home, await signLeaf(daemon.home, 'evil.example', 'DNS:evil.example'));
    expect(evil.stdout + evil.stderr).toContain('permitted subtree violation');
    // Leaves of the old CA were dropped: what the daemon serves now chains to the new one.
    const served = await servedLeaf(daemon, 'files.pythonhosted.org');
    expect((await verify(daemon.home, served)).code).toBe(0);

    const v = await world.venv();
    const r = await v.pip(['install', '--no-cache-dir', 'ca-later'], daemon.pipEnv);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toContain('Successfully installed ca-later-1.0');
  });

  it('a CA whose constraints do not match the config is rotated at start', async () => {
    const p = caPaths(daemon.home);
    const before = await readFile(p.cert, 'utf8');
    await daemon.stop();
    await writeFile(join(daemon.home, 'config.json'), '{}');
    const logged = (await daemon.logs()).length;
    daemon = await world.startDaemon({ home: daemon.home });
    const line = await waitForLog(daemon, 'rotated the local CA', logged);
    expect(line).toMatchObject({ permits: ['files.pythonhosted.org', 'pypi.org'] });
    const after = await readFile(p.cert, 'utf8');
    expect(after).not.toBe(before);
    expect(await readFile(p.bundle, 'utf8')).toContain(after.trim());
    const mirror = await verify(daemon.home, await signLeaf(daemon.home, 'mirror.example', 'DNS:mirror.example'));
    expect(mirror.stdout + mirror.stderr).toContain('permitted subtree violation');
  });
});
