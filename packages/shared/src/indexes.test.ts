import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, validateConfig } from './config.js';
import { configuredIndexes, defaultIndex, indexNameOf, indexOfFile, indexOrigin, indexUnder, interceptedHosts } from './indexes.js';

const TORCH = { name: 'torch', url: 'https://download.pytorch.org/whl/cu121' };
const TORCH_CPU = { name: 'torch-cpu', url: 'https://download.pytorch.org/whl/cpu/' };
const PRIVATE = { name: 'private', url: 'https://private.example/simple/', credentials: { env: 'PRIVATE_INDEX_AUTH' }, priority: 10 };

describe('indexes', () => {
  it('keep the origin of records made before the list existed, and tell two paths on one host apart', () => {
    expect(indexOrigin(new URL('https://pypi.org/simple/'))).toBe('pypi.org');
    expect(indexOrigin(new URL('http://127.0.0.1:8080/simple/'))).toBe('http://127.0.0.1:8080');
    expect(indexOrigin(new URL('https://download.pytorch.org/whl/cu121/'))).toBe('download.pytorch.org/whl/cu121');
    expect(indexOrigin(new URL('https://download.pytorch.org/whl/cpu/'))).toBe('download.pytorch.org/whl/cpu');
  });

  it('default to pypi from indexUpstream and one index per intercepted host', () => {
    const list = configuredIndexes(DEFAULT_CONFIG);
    expect(list.map((i) => [i.name, i.root, i.origin, i.fileHosts])).toEqual([['pypi', 'https://pypi.org/simple/', 'pypi.org', ['files.pythonhosted.org']]]);
    const more = configuredIndexes({ ...DEFAULT_CONFIG, interceptHosts: ['pypi.org', 'files.pythonhosted.org', 'mirror.example'] });
    expect(more.map((i) => [i.name, i.origin, i.implicit])).toEqual([
      ['pypi', 'pypi.org', false],
      ['mirror.example', 'mirror.example', true],
    ]);
  });

  it('are ordered by priority, then as configured', () => {
    const cfg = validateConfig({ indexes: [TORCH, PRIVATE] }, 'config.json');
    expect(configuredIndexes(cfg).map((i) => i.name)).toEqual(['private', 'pypi', 'torch']);
    expect(defaultIndex(configuredIndexes(cfg)).name).toBe('pypi');
    const replaced = validateConfig({ indexes: [{ name: 'pypi', url: 'https://mirror.example/pypi/simple' }] }, 'config.json');
    expect(configuredIndexes(replaced).map((i) => [i.name, i.origin])).toEqual([
      ['pypi', 'mirror.example/pypi/simple'],
      // pypi.org is still intercepted, so it still is an index of its own.
      ['pypi.org', 'pypi.org'],
    ]);
  });

  it('add their hosts and file hosts to the intercepted ones', () => {
    const cfg = validateConfig({ indexes: [TORCH, { ...PRIVATE, fileHosts: ['cdn.private.example'] }, { name: 'local', url: 'http://127.0.0.1:9000/simple' }] }, 'c');
    expect(interceptedHosts(cfg)).toEqual(['pypi.org', 'files.pythonhosted.org', 'download.pytorch.org', 'private.example', 'cdn.private.example']);
  });

  it('find the index of a page or file URL: the longest root, then file hosts, then the host', () => {
    const list = configuredIndexes(validateConfig({ indexes: [TORCH, TORCH_CPU, { ...PRIVATE, fileHosts: ['cdn.private.example'] }] }, 'c'));
    expect(indexUnder(list, new URL('https://download.pytorch.org/whl/cpu/torch/'))?.name).toBe('torch-cpu');
    expect(indexUnder(list, new URL('https://download.pytorch.org/whl/cu121/torch-2.1.0-cp311-none-any.whl'))?.name).toBe('torch');
    expect(indexUnder(list, new URL('https://download.pytorch.org/other/x.whl'))).toBeUndefined();
    expect(indexOfFile(list, new URL('https://cdn.private.example/a/b/x-1.0.tar.gz'))?.name).toBe('private');
    expect(indexOfFile(list, new URL('https://private.example/packages/x-1.0.tar.gz'))?.name).toBe('private');
    expect(indexOfFile(list, new URL('https://files.pythonhosted.org/packages/x-1.0.tar.gz'))?.name).toBe('pypi');
    expect(indexNameOf(list, 'download.pytorch.org/whl/cpu')).toBe('torch-cpu');
    expect(indexNameOf(list, 'gone.example')).toBe('gone.example');
  });

  it('are validated, every problem named', () => {
    expect(() =>
      validateConfig(
        {
          indexes: [
            { name: 'simple', url: 'https://a.example/' },
            { name: 'b', url: 'https://user:secret@b.example/simple/' },
            { name: 'c', url: 'ftp://c.example/' },
            { name: 'd', url: 'https://d.example/', credentials: {} },
            { name: 'e', url: 'https://e.example/', priority: 1.5, extra: 1 },
            { name: 'f', url: 'https://f.example/' },
            { name: 'F', url: 'https://g.example/' },
            { url: 'https://h.example/' },
          ],
        },
        'config.json',
      ),
    ).toThrowError(
      /indexes\[0\]\.name: .*; indexes\[1\]\.url: credentials do not belong in the URL.*; indexes\[2\]\.url: expected an index URL.*; indexes\[3\]\.credentials: name an environment variable.*; indexes\[4\]\.priority: .*; indexes\[4\]\.extra: unknown key; indexes\[6\]\.name: F is listed twice; indexes\[7\]: "name" and "url" are required/,
    );
    expect(() => validateConfig({ indexes: [TORCH, { name: 'again', url: 'https://download.pytorch.org/whl/cu121/' }] }, 'c')).toThrowError(/two entries have the URL/);
    const ok = validateConfig({ indexes: [TORCH, { ...PRIVATE, credentials: { netrc: true } }] }, 'c');
    expect(ok.indexes).toEqual([
      { name: 'torch', url: 'https://download.pytorch.org/whl/cu121/' },
      { name: 'private', url: 'https://private.example/simple/', credentials: { netrc: true }, priority: 10 },
    ]);
  });
});
