import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, loadConfig, validateConfig } from './config.js';
import { defaultMaxSize } from './config-values.js';
import { isPipcacheError } from './errors.js';
import { readCaFile, redactUrl } from './upstream-config.js';
import { rootCertificates } from 'node:tls';

describe('config', () => {
  it('uses the defaults when the file is absent', () => {
    const cfg = loadConfig(join(mkdtempSync(join(tmpdir(), 'pc-cfg-')), 'none.json'), {});
    expect(cfg).toEqual(DEFAULT_CONFIG);
    expect(Object.isFrozen(cfg)).toBe(true);
  });

  it('names every problem of a bad file at once', () => {
    let err: unknown;
    try {
      validateConfig({ port: 'x', interceptHosts: 'pypi.org', colour: 1, resolve: { 'a:443': 'nope' } }, 'cfg.json');
    } catch (e) {
      err = e;
    }
    expect(isPipcacheError(err, 'E_CONFIG_INVALID')).toBe(true);
    const msg = (err as Error).message;
    for (const word of ['port', 'interceptHosts', 'colour', 'resolve.a:443']) expect(msg).toContain(word);
  });

  it('reads the limits as sizes; prefetchBytes may be 0 (fetch nothing ahead), the others may not', () => {
    const cfg = validateConfig({ limits: { pageBytes: '64MiB', prefetchBytes: 0, idleMs: 1000 } }, 'cfg.json');
    expect(cfg.limits).toEqual({ ...DEFAULT_CONFIG.limits, pageBytes: 64 * 1024 ** 2, prefetchBytes: 0, idleMs: 1000 });
    expect(validateConfig({ limits: { prefetchBytes: '1MiB' } }, 'cfg.json').limits.prefetchBytes).toBe(1024 ** 2);
    expect(() => validateConfig({ limits: { prefetchBytes: 'lots' } }, 'cfg.json')).toThrow(/limits.prefetchBytes/);
    expect(() => validateConfig({ limits: { pageBytes: 0 } }, 'cfg.json')).toThrow(/limits.pageBytes/);
  });

  it('rejects a file that is not JSON with its path', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'pc-cfg-')), 'config.json');
    writeFileSync(file, '{ "port": 1,, }');
    expect(() => loadConfig(file, {})).toThrow(/config\.json: not valid JSON/);
  });

  it('applies PIPCACHE_* overrides over the file', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'pc-cfg-')), 'config.json');
    writeFileSync(file, JSON.stringify({ port: 4000, resolve: { 'pypi.org:443': '10.0.0.1:443' } }));
    const cfg = loadConfig(file, { PIPCACHE_PORT: '5000', PIPCACHE_RESOLVE: 'files.pythonhosted.org:443=127.0.0.1:8443' });
    expect(cfg.port).toBe(5000);
    expect(cfg.resolve).toEqual({ 'pypi.org:443': '10.0.0.1:443', 'files.pythonhosted.org:443': '127.0.0.1:8443' });
  });

  it('refuses a malformed PIPCACHE_RESOLVE', () => {
    expect(() => loadConfig('/nonexistent/config.json', { PIPCACHE_RESOLVE: 'pypi.org=127.0.0.1' })).toThrow(/PIPCACHE_RESOLVE/);
  });

  it('reads log rotation as a size and a generation count', () => {
    expect(validateConfig({}, 'cfg.json').log).toEqual({ maxSize: 10 * 1024 ** 2, keep: 5 });
    expect(validateConfig({ log: { maxSize: '64KiB', keep: 2 } }, 'cfg.json').log).toEqual({ maxSize: 64 * 1024, keep: 2 });
    expect(validateConfig({ log: { keep: 9 } }, 'cfg.json').log).toEqual({ maxSize: 10 * 1024 ** 2, keep: 9 });
  });

  it('rejects a bad log rotation with the key named', () => {
    expect(() => validateConfig({ log: { maxSize: 'lots' } }, 'cfg.json')).toThrow(/log\.maxSize: expected a size/);
    expect(() => validateConfig({ log: { maxSize: 0 } }, 'cfg.json')).toThrow(/log\.maxSize/);
    expect(() => validateConfig({ log: { keep: 0 } }, 'cfg.json')).toThrow(/log\.keep: expected an integer from 1/);
    expect(() => validateConfig({ log: { keep: 2.5 } }, 'cfg.json')).toThrow(/log\.keep/);
    expect(() => validateConfig({ log: { size: 1 } }, 'cfg.json')).toThrow(/log\.size: unknown key/);
    expect(() => validateConfig({ log: '10MiB' }, 'cfg.json')).toThrow(/log: expected an object/);
  });

  it('reads the size cap as a human-readable size, from the file or PIPCACHE_MAX_SIZE', () => {
    expect(validateConfig({}, 'cfg.json').maxSize).toBeNull();
    expect(validateConfig({ maxSize: '20GiB' }, 'cfg.json').maxSize).toBe(20 * 1024 ** 3);
    expect(validateConfig({ maxSize: '1.5 GB' }, 'cfg.json').maxSize).toBe(1.5e9);
    expect(validateConfig({ maxSize: 4096 }, 'cfg.json').maxSize).toBe(4096);
    expect(validateConfig({ maxSize: null }, 'cfg.json').maxSize).toBeNull();
    expect(loadConfig('/nonexistent/config.json', { PIPCACHE_MAX_SIZE: '3MiB' }).maxSize).toBe(3 * 1024 ** 2);
  });

  it('rejects a bad size cap with the key named', () => {
    expect(() => validateConfig({ maxSize: 'big' }, 'cfg.json')).toThrow(/cfg\.json: maxSize: expected a size such as 20GiB/);
    expect(() => validateConfig({ maxSize: 0 }, 'cfg.json')).toThrow(/maxSize/);
    expect(() => validateConfig({ maxSize: -1 }, 'cfg.json')).toThrow(/maxSize/);
    expect(() => validateConfig({ maxSize: '20 GiBs' }, 'cfg.json')).toThrow(/maxSize/);
    expect(() => loadConfig('/nonexistent/config.json', { PIPCACHE_MAX_SIZE: 'lots' })).toThrow(/PIPCACHE_MAX_SIZE: expected a size/);
  });

  it('defaults the cap to a tenth of the disk, at most 50 GiB', () => {
    expect(defaultMaxSize(100 * 1024 ** 3)).toBe(10 * 1024 ** 3);
    expect(defaultMaxSize(2 * 1024 ** 4)).toBe(50 * 1024 ** 3);
  });
});

describe('upstream proxy, trust and index credentials', () => {
  it('accepts an http proxy with credentials, noProxy and a CA file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pc-cfg-'));
    const good = join(dir, 'ca.pem');
    writeFileSync(good, `${rootCertificates[0]}\n`);
    expect(validateConfig({ caFile: good }, 'c.json').caFile).toBe(good);
    expect(readCaFile(good)).toHaveLength(1);
    const bad = join(dir, 'bad.pem');
    writeFileSync(bad, 'not a certificate');
    expect(() => validateConfig({ caFile: bad }, 'c.json')).toThrow(/caFile .*bad\.pem: no PEM certificate/);
    expect(() => validateConfig({ caFile: 'relative.pem' }, 'c.json')).toThrow(/caFile: expected an absolute path/);
    expect(() => validateConfig({ caFile: join(dir, 'missing.pem') }, 'c.json')).toThrow(/missing\.pem: ENOENT/);
    const cfg = validateConfig({ upstreamProxy: 'http://user:p%40ss@proxy.corp:3128', noProxy: ['.corp', '10.0.0.0/8', 'host:8080'] }, 'c.json');
    expect(cfg.upstreamProxy).toBe('http://user:p%40ss@proxy.corp:3128');
    expect(cfg.noProxy).toEqual(['.corp', '10.0.0.0/8', 'host:8080']);
    expect(() => validateConfig({ upstreamProxy: 'https://proxy.corp' }, 'c.json')).toThrow(/upstreamProxy/);
    expect(() => validateConfig({ upstreamProxy: 'http://proxy.corp:3128/path' }, 'c.json')).toThrow(/upstreamProxy/);
    expect(() => validateConfig({ noProxy: 'a,b' }, 'c.json')).toThrow(/noProxy/);
  });

  it('keeps credentials in indexUpstream apart from the origin, and accepts /simple/', () => {
    const cfg = validateConfig({ indexUpstream: 'http://pipcache:t0k%3A@127.0.0.1:3143/simple/' }, 'c.json');
    expect(cfg.indexUpstream).toBe('http://127.0.0.1:3143');
    expect(cfg.indexCredentials).toEqual({ username: 'pipcache', password: 't0k:' });
    expect(validateConfig({ indexUpstream: 'https://pypi.org/' }, 'c.json')).toMatchObject({ indexUpstream: 'https://pypi.org', indexCredentials: null });
    expect(() => validateConfig({ indexUpstream: 'https://pypi.org/other/' }, 'c.json')).toThrow(/indexUpstream/);
  });

  it('redacts credentials from URLs it shows', () => {
    expect(redactUrl('http://user:secret@proxy.corp:3128')).toBe('http://***@proxy.corp:3128');
    expect(redactUrl(new URL('http://proxy.corp:3128/'))).toBe('http://proxy.corp:3128');
  });
});
