import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, type Config } from '@pipcache/shared';
import { bypassesProxy, chooseUpstreamProxy, pointsAtSelf } from './proxy-choice.js';

const self = { host: '127.0.0.1', port: 3143 };
const cfg = (over: Partial<Config> = {}): Config => ({ ...DEFAULT_CONFIG, ...over });

describe('which upstream proxy the daemon uses', () => {
  it('takes upstreamProxy from the config, with its noProxy, over the environment', () => {
    const c = chooseUpstreamProxy(cfg({ upstreamProxy: 'http://u:secret@proxy.corp:3128', noProxy: ['.corp'] }), { HTTPS_PROXY: 'http://other:1' }, self);
    expect(c.https?.host).toBe('proxy.corp:3128');
    expect(c.http?.host).toBe('proxy.corp:3128');
    expect(c.noProxy).toEqual(['.corp']);
    expect(c.notes.map((n) => n.msg).join('\n')).toContain('http://***@proxy.corp:3128 (config upstreamProxy)');
    expect(JSON.stringify(c.notes)).not.toContain('secret');
  });

  it('takes https_proxy / HTTPS_PROXY and NO_PROXY from the environment', () => {
    const c = chooseUpstreamProxy(cfg({ noProxy: ['a.test'] }), { HTTPS_PROXY: 'proxy.corp:8080', NO_PROXY: 'b.test, .c.test' }, self);
    expect(c.https?.href).toBe('http://proxy.corp:8080/');
    expect(c.http).toBeNull();
    expect(c.noProxy).toEqual(['a.test', 'b.test', '.c.test']);
    expect(chooseUpstreamProxy(cfg(), { https_proxy: 'http://low:1', HTTPS_PROXY: 'http://up:1' }, self).https?.hostname).toBe('low');
  });

  it('ignores a proxy that is the daemon itself, and says so', () => {
    for (const env of [{ HTTPS_PROXY: 'http://127.0.0.1:3143' }, { https_proxy: 'http://localhost:3143' }, { HTTPS_PROXY: 'http://pipcache:tok@127.0.0.2:3143/' }, { HTTPS_PROXY: 'http://[::1]:3143' }]) {
      const c = chooseUpstreamProxy(cfg(), env, self);
      expect(c.https, JSON.stringify(env)).toBeNull();
      expect(c.notes[0]?.msg).toMatch(/ignored: it points at this daemon/);
      expect(JSON.stringify(c.notes)).not.toContain('tok');
    }
    expect(chooseUpstreamProxy(cfg({ upstreamProxy: 'http://127.0.0.1:3143' }), {}, self).https).toBeNull();
    expect(chooseUpstreamProxy(cfg(), { HTTPS_PROXY: 'http://127.0.0.1:3144' }, self).https?.port).toBe('3144');
  });

  it('knows its own address on every interface when listening on all of them', () => {
    const wild = { host: '0.0.0.0', port: 3143, localAddresses: ['10.1.2.3'] };
    expect(pointsAtSelf(new URL('http://10.1.2.3:3143'), wild)).toBe(true);
    expect(pointsAtSelf(new URL('http://10.1.2.4:3143'), wild)).toBe(false);
    expect(pointsAtSelf(new URL('http://10.1.2.3:3143'), { host: '10.1.2.3', port: 3143 })).toBe(true);
  });

  it('ignores an https:// proxy URL with a warning', () => {
    const c = chooseUpstreamProxy(cfg(), { HTTPS_PROXY: 'https://proxy.corp:443' }, self);
    expect(c.https).toBeNull();
    expect(c.notes[0]).toMatchObject({ level: 'warn' });
  });
});

describe('noProxy', () => {
  const by = (url: string, list: string[]): boolean => bypassesProxy(new URL(url), list);
  it('matches names, suffixes, addresses, networks and ports as curl does', () => {
    expect(by('https://pypi.org/simple/', ['pypi.org'])).toBe(true);
    expect(by('https://files.pythonhosted.org/x', ['pythonhosted.org'])).toBe(true);
    expect(by('https://files.pythonhosted.org/x', ['.pythonhosted.org'])).toBe(true);
    expect(by('https://notpypi.org/', ['pypi.org'])).toBe(false);
    expect(by('https://pypi.org/', ['*'])).toBe(true);
    expect(by('http://10.1.2.3:8080/', ['10.0.0.0/8'])).toBe(true);
    expect(by('http://10.1.2.3:8080/', ['10.1.2.3:8080'])).toBe(true);
    expect(by('http://10.1.2.3:8080/', ['10.1.2.3:9090'])).toBe(false);
    expect(by('https://pypi.org/', ['pypi.org:443'])).toBe(true);
    expect(by('http://[::1]:80/', ['::1'])).toBe(true);
    expect(by('http://[::1]:80/', ['[::1]:80'])).toBe(true);
    expect(by('https://pypi.org/', [])).toBe(false);
  });
});
