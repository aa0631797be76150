import { describe, expect, it } from 'vitest';
import { configuredIndexes, DEFAULT_CONFIG, validateConfig } from '@pipcache/shared';
import { pageRequest } from './router.js';

const indexes = configuredIndexes(
  validateConfig({ indexes: [{ name: 'torch', url: 'https://download.pytorch.org/whl/cu121' }, { name: 'cpu', url: 'https://download.pytorch.org/whl/cpu' }] }, 'c'),
);
const page = (url: string): [string, string] | null => {
  const p = pageRequest(indexes, new URL(url));
  return p && [p.root.href, p.rawName];
};

describe('pageRequest', () => {
  it('finds the project page under each index root, telling pages from files that sit beside them', () => {
    expect(page('https://pypi.org/simple/Foo/')).toEqual(['https://pypi.org/simple/', 'Foo']);
    expect(page('https://pypi.org/simple/foo')).toEqual(['https://pypi.org/simple/', 'foo']);
    expect(page('https://download.pytorch.org/whl/cu121/torch/')).toEqual(['https://download.pytorch.org/whl/cu121/', 'torch']);
    expect(page('https://download.pytorch.org/whl/cpu/torch/')).toEqual(['https://download.pytorch.org/whl/cpu/', 'torch']);
    expect(page('https://download.pytorch.org/whl/cu121/torch-2.1.0%2Bcu121-cp311-cp311-linux_x86_64.whl')).toBeNull();
    expect(page('https://download.pytorch.org/whl/cu121/torch-2.1.0-cp311-cp311-linux_x86_64.whl.metadata')).toBeNull();
    expect(page('https://download.pytorch.org/whl/cu121/')).toBeNull();
    expect(page('https://download.pytorch.org/whl/rocm/torch/')).toBeNull();
    expect(page('https://files.pythonhosted.org/simple/foo/')).toBeNull();
    expect(pageRequest(configuredIndexes(DEFAULT_CONFIG), new URL('https://pypi.org/simple/a/b/'))).toBeNull();
  });
});
