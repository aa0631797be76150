import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, defaultMaxSize, loadConfig, validateConfig } from './config.js';
import { isPipcacheError } from './errors.js';

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
