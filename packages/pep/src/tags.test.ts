import { describe, expect, it } from 'vitest';
import { parseArchiveFilename } from './names.js';
import { platformTags, supportedTags, wheelMatches, type Target } from './tags.js';

const def311: Target = { pythonVersion: '3.11', platforms: [], implementation: 'cp' };
const s311 = supportedTags(def311);

function matches(filename: string, supported: Set<string>): boolean {
  const tags = parseArchiveFilename(filename)?.tags;
  if (tags === undefined) throw new Error(`not a wheel: ${filename}`);
  return wheelMatches(tags, supported);
}

describe('supportedTags', () => {
  it('default target takes manylinux wheels of the right CPython', () => {
    expect(matches('numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl', s311)).toBe(true);
    expect(matches('foo-1.0-cp311-cp311-manylinux2014_x86_64.whl', s311)).toBe(true);
    expect(matches('foo-1.0-cp311-cp311-manylinux1_x86_64.whl', s311)).toBe(true);
    expect(matches('foo-1.0-cp311-cp311-manylinux2010_x86_64.whl', s311)).toBe(true);
    expect(matches('foo-1.0-cp311-cp311-manylinux_2_36_x86_64.whl', s311)).toBe(true);
    expect(matches('foo-1.0-cp311-cp311-linux_x86_64.whl', s311)).toBe(true);
  });
  it('rejects the wrong python, platform, glibc or libc', () => {
    expect(matches('foo-1.0-cp312-cp312-manylinux2014_x86_64.whl', s311)).toBe(false);
    expect(matches('foo-1.0-cp311-cp311-manylinux2014_aarch64.whl', s311)).toBe(false);
    expect(matches('foo-1.0-cp311-cp311-manylinux_2_38_x86_64.whl', s311)).toBe(false);
    expect(matches('foo-1.0-cp311-cp311-musllinux_1_1_x86_64.whl', s311)).toBe(false);
    expect(matches('foo-1.0-cp311-cp311-win_amd64.whl', s311)).toBe(false);
    expect(matches('foo-1.0-pp310-pypy310_pp73-manylinux2014_x86_64.whl', s311)).toBe(false);
  });
  it('abi3 wheels serve newer CPythons, not older ones', () => {
    expect(matches('cryptography-42.0.0-cp39-abi3-manylinux_2_28_x86_64.whl', s311)).toBe(true);
    expect(matches('foo-1.0-cp32-abi3-manylinux1_x86_64.whl', s311)).toBe(true);
    expect(matches('foo-1.0-cp312-abi3-manylinux1_x86_64.whl', s311)).toBe(false);
    expect(matches('foo-1.0-cp39-cp39-manylinux1_x86_64.whl', s311)).toBe(false);
  });
  it('pure-python wheels', () => {
    expect(matches('six-1.16.0-py2.py3-none-any.whl', s311)).toBe(true);
    expect(matches('foo-1.0-py3-none-any.whl', s311)).toBe(true);
    expect(matches('foo-1.0-py38-none-any.whl', s311)).toBe(true);
    expect(matches('foo-1.0-cp311-none-any.whl', s311)).toBe(true);
    expect(matches('foo-1.0-py2-none-any.whl', s311)).toBe(false);
    expect(matches('foo-1.0-py312-none-any.whl', s311)).toBe(false);
    expect(matches('foo-1.0-py3-none-linux_x86_64.whl', s311)).toBe(true);
  });
  it('python 3.7 uses the m ABI', () => {
    const s37 = supportedTags({ pythonVersion: '3.7.17', platforms: [], implementation: 'cp' });
    expect(matches('foo-1.0-cp37-cp37m-manylinux2014_x86_64.whl', s37)).toBe(true);
  });
  it('musllinux only when asked', () => {
    const s = supportedTags({ pythonVersion: '3.12', platforms: ['musllinux_1_2_x86_64'], implementation: 'cp' });
    expect(matches('foo-1.0-cp312-cp312-musllinux_1_1_x86_64.whl', s)).toBe(true);
    expect(matches('foo-1.0-cp312-cp312-musllinux_1_2_x86_64.whl', s)).toBe(true);
    expect(matches('foo-1.0-cp312-cp312-manylinux2014_x86_64.whl', s)).toBe(false);
  });
  it('macOS version ranges and universal2', () => {
    const s = supportedTags({ pythonVersion: '3.12', platforms: ['macosx_14_0_arm64'], implementation: 'cp' });
    expect(matches('foo-1.0-cp312-cp312-macosx_11_0_arm64.whl', s)).toBe(true);
    expect(matches('foo-1.0-cp312-cp312-macosx_10_9_universal2.whl', s)).toBe(true);
    expect(matches('foo-1.0-cp312-cp312-macosx_10_9_x86_64.whl', s)).toBe(false);
    expect(matches('foo-1.0-cp312-cp312-macosx_15_0_arm64.whl', s)).toBe(false);
    const x86 = supportedTags({ pythonVersion: '3.12', platforms: ['macosx_12_0_x86_64'], implementation: 'cp' });
    expect(matches('foo-1.0-cp312-cp312-macosx_10_9_x86_64.whl', x86)).toBe(true);
    expect(matches('foo-1.0-cp312-cp312-macosx_10_9_intel.whl', x86)).toBe(true);
  });
  it('windows and several platforms at once', () => {
    const s = supportedTags({ pythonVersion: '3.11', platforms: ['win_amd64', 'manylinux2014_aarch64'], implementation: 'cp' });
    expect(matches('foo-1.0-cp311-cp311-win_amd64.whl', s)).toBe(true);
    expect(matches('foo-1.0-cp311-cp311-manylinux_2_17_aarch64.whl', s)).toBe(true);
    expect(matches('foo-1.0-cp311-cp311-win32.whl', s)).toBe(false);
    expect(matches('foo-1.0-cp311-cp311-manylinux_2_28_aarch64.whl', s)).toBe(false);
  });
  it('pypy', () => {
    const s = supportedTags({ pythonVersion: '3.10', platforms: [], implementation: 'pp' });
    expect(matches('foo-1.0-pp310-pypy310_pp73-manylinux_2_17_x86_64.whl', s)).toBe(true);
    expect(matches('foo-1.0-py3-none-any.whl', s)).toBe(true);
    expect(matches('foo-1.0-cp310-cp310-manylinux_2_17_x86_64.whl', s)).toBe(false);
  });
});

describe('platformTags', () => {
  it('expands legacy manylinux names to PEP 600 tags and back', () => {
    const t = platformTags('manylinux2014_x86_64');
    expect(t).toContain('manylinux_2_17_x86_64');
    expect(t).toContain('manylinux2010_x86_64');
    expect(t).toContain('manylinux_2_5_x86_64');
    expect(t).toContain('linux_x86_64');
    expect(t).not.toContain('manylinux_2_18_x86_64');
    expect(platformTags('manylinux_2_28_aarch64')).not.toContain('manylinux_2_16_aarch64');
  });
});
