import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { StatusResult } from '@pipcache/shared';
import { atLeast, noProxyCheck, proxyCheck, trustCheck, type DoctorFacts } from './doctor-checks.js';
import { planEnv, setVars } from './env-plan.js';
import { bypassingEntries, envProxy, withoutBypasses } from './no-proxy.js';
import { parseIni, pipConfigFiles, pipSetting, readPipConfig } from './pip-config.js';

const HOSTS = ['pypi.org', 'files.pythonhosted.org'];

const status = {
  address: 'http://127.0.0.1:3143',
  host: '127.0.0.1',
  port: 3143,
  auth: false,
  offline: false,
  home: '/h',
  interceptHosts: HOSTS,
  indexUpstream: 'https://pypi.org',
} as StatusResult;

function certFiles(): { dir: string; ca: string; bundle: string; other: string } {
  const dir = mkdtempSync(join(tmpdir(), 'pipcache-rules-'));
  const pem = (body: string) => `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
  const files = { dir, ca: join(dir, 'ca.pem'), bundle: join(dir, 'bundle.pem'), other: join(dir, 'other.pem') };
  writeFileSync(files.ca, pem('TE9DQUw='));
  writeFileSync(files.bundle, pem('TE9DQUw=') + pem('UFVCTElD'));
  writeFileSync(files.other, pem('UFVCTElD') + pem('Q09SUA=='));
  return files;
}

describe('NO_PROXY', () => {
  it('finds the entries pip would use to bypass an intercepted host', () => {
    expect(bypassingEntries('localhost, .org ,example.com,*', HOSTS)).toEqual(['.org', '*']);
    expect(bypassingEntries('pypi.org,org,pythonhosted.org,*.org,pypi.org:443', HOSTS)).toEqual(['pypi.org', 'org', 'pythonhosted.org', '*.org', 'pypi.org:443']);
    expect(bypassingEntries('10.0.0.0/8,pypi.org:80,pypi.org.example,test.pypi.org', HOSTS)).toEqual([]);
    expect(withoutBypasses('localhost,.org,127.0.0.1', HOSTS)).toBe('localhost,127.0.0.1');
    expect(withoutBypasses('*', HOSTS)).toBe('');
  });

  it('reads the proxy the way urllib does: lower case first, an empty one removes it', () => {
    expect(envProxy({ HTTPS_PROXY: 'http://a', https_proxy: 'http://b' }, 'https')?.value).toBe('http://b');
    expect(envProxy({ HTTPS_PROXY: 'http://a', https_proxy: '' }, 'https')).toBeNull();
    expect(envProxy({ ALL_PROXY: 'http://c' }, 'https')?.name).toBe('ALL_PROXY');
  });
});

describe('pip configuration', () => {
  it('parses pip.conf like RawConfigParser, keys normalized', () => {
    expect(parseIni('# c\n[global]\nIndex_URL = https://x/simple\n; c\nextra-index-url:\n  https://a\n  https://b\n[install]\ncert=/c.pem\n')).toEqual([
      { section: 'global', key: 'index-url', value: 'https://x/simple' },
      { section: 'global', key: 'extra-index-url', value: 'https://a\nhttps://b' },
      { section: 'install', key: 'cert', value: '/c.pem' },
    ]);
  });

  it("lists pip's files in override order; PIP_CONFIG_FILE hides the user files, /dev/null hides all", () => {
    const { dir } = certFiles();
    const env = { HOME: '/u', XDG_CONFIG_DIRS: '/x1:/x2' };
    expect(pipConfigFiles(env, '/venv').map((f) => f.file)).toEqual([
      '/x1/pip/pip.conf',
      '/x2/pip/pip.conf',
      '/etc/pip.conf',
      '/u/.pip/pip.conf',
      ...(process.platform === 'darwin' ? ['/u/Library/Application Support/pip/pip.conf'] : []),
      '/u/.config/pip/pip.conf',
      '/venv/pip.conf',
    ]);
    const own = join(dir, 'pip.conf');
    writeFileSync(own, '[global]\ncert = /own.pem\n');
    expect(pipConfigFiles({ ...env, PIP_CONFIG_FILE: own }, undefined).map((f) => f.kind)).toEqual(['global', 'global', 'global', 'env']);
    expect(pipConfigFiles({ PIP_CONFIG_FILE: '/dev/null' }, '/venv')).toEqual([]);
  });

  it('takes a PIP_ variable over the command section over [global], later files over earlier', () => {
    const e = (file: string, section: string, value: string) => ({ file, kind: 'global' as const, section, key: 'cert', value });
    const entries = [e('/a', 'install', '/a-install'), e('/a', 'global', '/a-global'), e('/b', 'global', '/b-global')];
    expect(pipSetting(entries, {}, 'cert')?.value).toBe('/a-install');
    expect(pipSetting(entries, {}, 'cert', 'download')?.value).toBe('/b-global');
    expect(pipSetting(entries, { PIP_CERT: '/env' }, 'cert')).toEqual({ value: '/env', source: 'PIP_CERT' });
  });
});

describe('planEnv', () => {
  it('repoints the CA variables that are set, strips NO_PROXY, and notes a custom CA the bundle lacks', async () => {
    const f = certFiles();
    const plan = await planEnv({
      status,
      bundle: f.bundle,
      token: null,
      index: false,
      uv: false,
      env: { REQUESTS_CA_BUNDLE: f.other, CURL_CA_BUNDLE: f.bundle, no_proxy: '.org', NO_PROXY: 'localhost,pypi.org' },
      pipConfig: [],
    });
    const vars = setVars(plan);
    expect(vars).toMatchObject({ HTTPS_PROXY: status.address, PIP_CERT: f.bundle, REQUESTS_CA_BUNDLE: f.bundle, CURL_CA_BUNDLE: f.bundle, NO_PROXY: 'localhost' });
    expect(vars.SSL_CERT_FILE).toBeUndefined();
    expect(plan.actions).toContainEqual({ name: 'no_proxy', unset: true });
    expect(plan.notes.join('\n')).toMatch(/REQUESTS_CA_BUNDLE was .*other\.pem: 1 of its 2 certificates are not in the bundle.*NODE_EXTRA_CA_CERTS/);
    expect(plan.notes.join('\n')).not.toMatch(/CURL_CA_BUNDLE was/);
  });

  it('adds uv: SSL_CERT_FILE always, UV_INDEX_URL in index mode', async () => {
    const f = certFiles();
    const base = { status, bundle: f.bundle, token: null, uv: true, env: {}, pipConfig: [] };
    expect(setVars(await planEnv({ ...base, index: false })).SSL_CERT_FILE).toBe(f.bundle);
    expect(setVars(await planEnv({ ...base, index: true }))).toEqual({ PIP_INDEX_URL: `${status.address}/simple/`, UV_INDEX_URL: `${status.address}/simple/` });
  });

  it('overrides a pip.conf proxy and names a pip.conf index that is not intercepted', async () => {
    const f = certFiles();
    const entry = (key: string, value: string) => ({ file: '/etc/pip.conf', kind: 'global' as const, section: 'global', key, value });
    const plan = await planEnv({
      status,
      bundle: f.bundle,
      token: null,
      index: false,
      uv: false,
      env: {},
      pipConfig: [entry('proxy', 'http://corp:3128'), entry('index-url', 'https://mirror.example/simple')],
    });
    expect(setVars(plan).PIP_PROXY).toBe(status.address);
    expect(plan.notes.join('\n')).toContain('Fix: export PIP_INDEX_URL=https://pypi.org/simple/');
  });
});

describe('doctor rules', () => {
  const facts = (env: NodeJS.ProcessEnv, pip = '23.2.1', python = '3.11.7'): DoctorFacts => {
    const f = certFiles();
    return { status, bundle: f.bundle, caCert: f.ca, token: null, env, pipConfig: [], pip: { pip, python, prefix: '/p' } };
  };

  it('compares dotted versions', () => {
    expect(atLeast('24.2', 24, 2)).toBe(true);
    expect(atLeast('24.1.2', 24, 2)).toBe(false);
    expect(atLeast('3.9.18', 3, 10)).toBe(false);
  });

  it('REQUESTS_CA_BUNDLE beats PIP_CERT: elsewhere, it is the fix', async () => {
    const x = facts({});
    x.env = { REQUESTS_CA_BUNDLE: join(x.caCert, '..', 'other.pem'), PIP_CERT: x.bundle };
    const check = await trustCheck(x);
    expect(check.ok).toBe(false);
    expect(check.fix).toBe(`export REQUESTS_CA_BUNDLE=${x.bundle}`);
    x.env = { PIP_CERT: x.bundle };
    expect((await trustCheck(x)).ok).toBe(true);
  });

  it('with nothing set, old pip trusts certifi and pip 24.2 trusts SSL_CERT_FILE', async () => {
    expect((await trustCheck(facts({}))).fix).toMatch(/^export PIP_CERT=/);
    const modern = facts({}, '24.2', '3.13.0');
    modern.env = { SSL_CERT_FILE: modern.bundle };
    expect((await trustCheck(modern)).ok).toBe(true);
  });

  it('names missing proxy variables and NO_PROXY entries with their fixes', () => {
    expect(proxyCheck(facts({}))).toMatchObject({ ok: false, fix: 'eval "$(pipcache env)"' });
    expect(proxyCheck(facts({ HTTPS_PROXY: 'http://localhost:3143' })).ok).toBe(true);
    expect(proxyCheck(facts({ HTTPS_PROXY: status.address, NO_PROXY: 'pypi.org' })).ok).toBe(false);
    expect(noProxyCheck(facts({ HTTPS_PROXY: status.address, NO_PROXY: 'localhost,.org' }))).toMatchObject({ ok: false, fix: "export NO_PROXY='localhost'" });
  });

  it('reads the same config files it is given', () => {
    expect(readPipConfig({ PIP_CONFIG_FILE: '/dev/null' }, undefined)).toEqual([]);
  });
});
