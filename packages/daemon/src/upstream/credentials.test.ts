import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { configuredIndexes, DEFAULT_CONFIG, validateConfig } from '@pipcache/shared';
import { basicAuth, parseNetrc, UpstreamCredentials } from './credentials.js';
import { UpstreamGate } from './gate.js';

const dir = mkdtempSync(join(tmpdir(), 'pc-creds-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const decode = (h: string | undefined): string => Buffer.from((h ?? '').replace(/^Basic /, ''), 'base64').toString('utf8');

describe('netrc', () => {
  it('reads machines, the default, comments and macdef bodies', () => {
    const entries = parseNetrc(
      [
        '# a comment',
        'machine Private.Example login alice password s3cret',
        'macdef init',
        'machine evil.example login mallory',
        '',
        'machine other.example',
        '  login bob # trailing comment',
        '  account x password pw2',
        'default login anon password guest',
      ].join('\n'),
    );
    expect(entries.get('private.example')).toEqual({ login: 'alice', password: 's3cret' });
    expect(entries.get('other.example')).toEqual({ login: 'bob', password: 'pw2' });
    expect(entries.get('')).toEqual({ login: 'anon', password: 'guest' });
    expect(entries.has('evil.example')).toBe(false);
  });
});

describe('UpstreamCredentials', () => {
  it('sends user:password or a token (as the user name) from an env var, else from netrc', () => {
    expect(decode(basicAuth('alice:pw:with:colons'))).toBe('alice:pw:with:colons');
    expect(decode(basicAuth('tok123'))).toBe('tok123:');
    const netrc = join(dir, 'netrc');
    writeFileSync(netrc, 'machine private.example login bob password fromnetrc\n');
    const env: NodeJS.ProcessEnv = {};
    const creds = new UpstreamCredentials({ env: () => env, netrcPath: () => netrc });
    const cfg = validateConfig({ indexes: [{ name: 'private', url: 'https://private.example/simple/', credentials: { env: 'PRIV', netrc: true } }] }, 'c');
    const index = configuredIndexes(cfg).find((i) => i.name === 'private');
    if (!index) throw new Error('no index');
    expect(decode(creds.authorization(index))).toBe('bob:fromnetrc');
    env.PRIV = 'alice:fromenv';
    expect(decode(creds.authorization(index))).toBe('alice:fromenv');
    writeFileSync(netrc, 'machine private.example login carol password changed-and-longer\n');
    delete env.PRIV;
    expect(decode(creds.authorization(index))).toBe('carol:changed-and-longer');
    expect(creds.authorization(configuredIndexes(DEFAULT_CONFIG)[0] as (typeof index))).toBeUndefined();
  });

  it('go only to the index they belong to, through the gate', () => {
    const config = validateConfig(
      {
        indexes: [
          { name: 'private', url: 'https://private.example/simple/', credentials: { env: 'PRIV' }, fileHosts: ['cdn.example'] },
          { name: 'torch', url: 'https://download.pytorch.org/whl/cu121' },
        ],
      },
      'c',
    );
    const gate = new UpstreamGate({
      config: () => config,
      offline: () => false,
      credentials: new UpstreamCredentials({ env: () => ({ PRIV: 'u:p' }), netrcPath: () => join(dir, 'none') }),
    });
    expect(decode(gate.upstreamHeaders(new URL('https://private.example/simple/x/')).authorization)).toBe('u:p');
    expect(decode(gate.upstreamHeaders(new URL('https://private.example/packages/x-1.0.tar.gz')).authorization)).toBe('u:p');
    expect(gate.upstreamHeaders(new URL('https://cdn.example/x-1.0.tar.gz'))).toEqual({});
    expect(gate.upstreamHeaders(new URL('https://pypi.org/simple/x/'))).toEqual({});
    expect(gate.upstreamHeaders(new URL('http://private.example/simple/x/'))).toEqual({});
    expect(gate.originOrder()).toEqual(['pypi.org', 'private.example', 'download.pytorch.org/whl/cu121']);
    expect(gate.isIndexUrl(new URL('https://download.pytorch.org/whl/cu121/torch/'))).toBe(true);
    expect(gate.isIndexUrl(new URL('https://cdn.example/x.whl'))).toBe(true);
    expect(gate.isIndexUrl(new URL('https://unlisted.example/x.whl'))).toBe(false);
  });
});
