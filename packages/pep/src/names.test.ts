import { describe, expect, it } from 'vitest';
import {
  isSafeFilename,
  isValidProjectName,
  isValidVersion,
  normalizeName,
  parseArchiveFilename,
  parseSdistFilename,
  parseWheelFilename,
} from './names.js';

describe('normalizeName', () => {
  it.each([
    ['Django', 'django'],
    ['zope.interface', 'zope-interface'],
    ['Foo_Bar', 'foo-bar'],
    ['foo--bar', 'foo-bar'],
    ['foo._-bar', 'foo-bar'],
    ['FOO.BAR_baz-QUX', 'foo-bar-baz-qux'],
    ['a', 'a'],
  ])('%s -> %s', (input, out) => {
    expect(normalizeName(input)).toBe(out);
  });
});

describe('isValidProjectName', () => {
  it.each(['a', 'A1', 'zope.interface', 'Foo_Bar', 'foo-bar', '0', 'a-b.c_d'])('accepts %s', (n) => {
    expect(isValidProjectName(n)).toBe(true);
  });
  it.each(['', '-foo', 'foo-', '.foo', 'foo_', 'foo bar', 'foo/bar', 'föö', 'foo\0', 'foo\n'])(
    'rejects %j',
    (n) => {
      expect(isValidProjectName(n)).toBe(false);
    },
  );
});

describe('isValidVersion', () => {
  it.each(['1.0', '1.0rc1', '1!2.0.post1.dev3+local.1', '2023.10.1', '1.0-1', '1.0_post1', 'v1.0', '1.0+abc_def'])(
    'accepts %s',
    (v) => {
      expect(isValidVersion(v)).toBe(true);
    },
  );
  it.each(['', 'notaversion', '1..0', '1.0-', ' 1.0', '1.0 ', '1.0\n', '1.0_1', 'latest'])('rejects %j', (v) => {
    expect(isValidVersion(v)).toBe(false);
  });
});

describe('isSafeFilename', () => {
  it.each(['foo-1.0.tar.gz', 'numpy-1.26.0-cp311-cp311-manylinux_2_17_x86_64.whl', 'x', 'naïve-1.0.tar.gz', 'a b'])(
    'accepts %j',
    (n) => {
      expect(isSafeFilename(n)).toBe(true);
    },
  );
  it.each([
    ['empty', ''],
    ['dot', '.'],
    ['dotdot', '..'],
    ['hidden', '.bashrc'],
    ['slash', 'a/b'],
    ['traversal', '../etc-1.0.tar.gz'],
    ['trailing traversal', 'foo-1.0.tar.gz/..'],
    ['backslash', 'a\\b'],
    ['colon', 'C:foo'],
    ['NUL', 'foo\0.tar.gz'],
    ['newline', 'foo\n.tar.gz'],
    ['tab', 'foo\t.tar.gz'],
    ['DEL', 'foo\u007f'],
    ['C1 control', 'foo\u0085'],
    ['lone surrogate', 'foo\ud800.tar.gz'],
    ['256 ascii bytes', 'a'.repeat(256)],
    ['300 chars', `${'a'.repeat(290)}-1.0.tar.gz`],
  ])('rejects %s', (_label, n) => {
    expect(isSafeFilename(n)).toBe(false);
  });

  it('counts UTF-8 bytes, not UTF-16 code units', () => {
    expect(isSafeFilename('a'.repeat(255))).toBe(true);
    // 'é' is 2 bytes in UTF-8: 128 * 2 = 256 bytes > 255
    expect(isSafeFilename('é'.repeat(128))).toBe(false);
    expect(isSafeFilename('é'.repeat(127))).toBe(true);
    // astral character: 4 bytes, 2 code units
    expect(isSafeFilename('😀'.repeat(64))).toBe(false);
    expect(isSafeFilename('😀'.repeat(63))).toBe(true);
  });
});

describe('parseWheelFilename', () => {
  it('parses a simple wheel', () => {
    expect(parseWheelFilename('foo-1.0-py3-none-any.whl')).toEqual({
      kind: 'wheel',
      project: 'foo',
      version: '1.0',
      filename: 'foo-1.0-py3-none-any.whl',
      extension: '.whl',
      tags: { python: ['py3'], abi: ['none'], platform: ['any'] },
    });
  });

  it('parses a build tag', () => {
    const p = parseWheelFilename('foo-1.0-1-py3-none-any.whl');
    expect(p?.buildTag).toBe('1');
    expect(p?.version).toBe('1.0');
    expect(parseWheelFilename('foo-1.0-12abc-py3-none-any.whl')?.buildTag).toBe('12abc');
  });

  it('rejects a build tag not starting with a digit', () => {
    expect(parseWheelFilename('foo-1.0-abc-py3-none-any.whl')).toBeNull();
  });

  it('expands compressed tag sets', () => {
    expect(parseWheelFilename('foo-1.0-py2.py3-none-any.whl')?.tags).toEqual({
      python: ['py2', 'py3'],
      abi: ['none'],
      platform: ['any'],
    });
    const np = parseWheelFilename('numpy-1.26.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl');
    expect(np).toMatchObject({
      project: 'numpy',
      version: '1.26.0',
      tags: { python: ['cp311'], abi: ['cp311'], platform: ['manylinux_2_17_x86_64', 'manylinux2014_x86_64'] },
    });
    expect(np?.buildTag).toBeUndefined();
  });

  it('normalizes names with dots, underscores and upper case', () => {
    expect(parseWheelFilename('zope.interface-6.0-cp311-cp311-win_amd64.whl')?.project).toBe('zope-interface');
    expect(parseWheelFilename('Foo_Bar-2.0-py3-none-any.whl')?.project).toBe('foo-bar');
  });

  it('keeps the version as written', () => {
    expect(parseWheelFilename('foo-1.0_post1-py3-none-any.whl')?.version).toBe('1.0_post1');
    expect(parseWheelFilename('foo-1.0+local_1-py3-none-any.whl')?.version).toBe('1.0+local_1');
  });

  it.each([
    ['too few parts', 'foo-1.0-none-any.whl'],
    ['too many parts', 'foo-1.0-1-2-py3-none-any.whl'],
    ['bad version', 'foo-notaversion-py3-none-any.whl'],
    ['empty name', '-1.0-py3-none-any.whl'],
    ['empty tag', 'foo-1.0-py3..py2-none-any.whl'],
    ['upper-case extension', 'foo-1.0-py3-none-any.WHL'],
    ['metadata sidecar', 'foo-1.0-py3-none-any.whl.metadata'],
    ['not a wheel', 'foo-1.0.tar.gz'],
    ['traversal', '../foo-1.0-py3-none-any.whl'],
    ['NUL', 'foo-1.0-py3-none-any\0.whl'],
  ])('rejects %s', (_label, f) => {
    expect(parseWheelFilename(f)).toBeNull();
  });
});

describe('parseSdistFilename', () => {
  it('splits legacy names at the project prefix when the project is known', () => {
    expect(parseSdistFilename('foo-bar-1.0.tar.gz', 'foo-bar')).toEqual({
      kind: 'sdist',
      project: 'foo-bar',
      version: '1.0',
      filename: 'foo-bar-1.0.tar.gz',
      extension: '.tar.gz',
    });
    expect(parseSdistFilename('Foo_Bar-1.0.zip', 'foo-bar')).toMatchObject({ project: 'foo-bar', version: '1.0' });
    expect(parseSdistFilename('foo_bar-1.0.tar.gz', 'Foo.Bar')).toMatchObject({ project: 'foo-bar', version: '1.0' });
  });

  it('uses the first matching dash, so post-release versions keep their dash', () => {
    expect(parseSdistFilename('foo-1.0-1.tar.gz', 'foo')).toMatchObject({ project: 'foo', version: '1.0-1' });
  });

  it('returns null when the prefix never matches the known project', () => {
    expect(parseSdistFilename('bar-1.0.tar.gz', 'foo')).toBeNull();
    expect(parseSdistFilename('foo-bar-1.0.tar.gz', 'foo')).toBeNull(); // 'bar-1.0' is not a version
  });

  it('splits at the last dash without a project', () => {
    expect(parseSdistFilename('foo-bar-1.0.tar.gz')).toMatchObject({ project: 'foo-bar', version: '1.0' });
    expect(parseSdistFilename('pytest-runner-5.3.1.tar.gz')).toMatchObject({
      project: 'pytest-runner',
      version: '5.3.1',
    });
  });

  it.each([
    ['Django-4.2.tar.gz', 'django', '4.2', '.tar.gz'],
    ['zope.interface-6.0.tar.gz', 'zope-interface', '6.0', '.tar.gz'],
    ['foo-1.0.zip', 'foo', '1.0', '.zip'],
    ['foo-1.0rc1.tar.bz2', 'foo', '1.0rc1', '.tar.bz2'],
    ['foo-1.0.tgz', 'foo', '1.0', '.tgz'],
    ['foo-1.0.tar.xz', 'foo', '1.0', '.tar.xz'],
    ['foo-1.0.tar', 'foo', '1.0', '.tar'],
    ['foo_bar-2!1.0.post1.tar.gz', 'foo-bar', '2!1.0.post1', '.tar.gz'],
  ])('%s', (f, project, version, extension) => {
    expect(parseSdistFilename(f)).toEqual({ kind: 'sdist', project, version, filename: f, extension });
  });

  it.each([
    ['no version', 'foo-notaversion.tar.gz'],
    ['no dash', 'foo.tar.gz'],
    ['empty name', '-1.0.tar.gz'],
    ['empty version', 'foo-.tar.gz'],
    ['egg', 'foo-1.0.egg'],
    ['traversal', '../etc-1.0.tar.gz'],
    ['trailing traversal', 'foo-1.0.tar.gz/..'],
    ['bad name chars', 'fo o-1.0.tar.gz'],
  ])('rejects %s', (_label, f) => {
    expect(parseSdistFilename(f)).toBeNull();
  });

  it('rejects invalid versions even with a known project', () => {
    expect(parseSdistFilename('foo-notaversion.tar.gz', 'foo')).toBeNull();
  });
});

describe('parseArchiveFilename', () => {
  it('dispatches by extension', () => {
    expect(parseArchiveFilename('foo-1.0-py3-none-any.whl')?.kind).toBe('wheel');
    expect(parseArchiveFilename('foo-1.0.tar.gz')?.kind).toBe('sdist');
    expect(parseArchiveFilename('foo-bar-1.0.tar.gz', 'foo-bar')).toMatchObject({ project: 'foo-bar', version: '1.0' });
  });

  it.each([
    'foo-1.0.egg',
    'foo-1.0-py2.7.egg',
    'foo-1.0.win32.exe',
    'foo-1.0.msi',
    'foo-1.0-1.noarch.rpm',
    'foo-1.0-py3-none-any.whl.metadata',
    'foo-1.0.tar.gz.asc',
    '../etc-1.0.tar.gz',
    'foo-1.0.tar.gz/..',
    'foo\0-1.0.tar.gz',
    `${'a'.repeat(290)}-1.0.tar.gz`,
    '',
  ])('null for %j', (f) => {
    expect(parseArchiveFilename(f)).toBeNull();
  });

  it('handles unicode names safely', () => {
    // safe as a filename but not a valid PEP 508 name
    expect(isSafeFilename('föö-1.0.tar.gz')).toBe(true);
    expect(parseArchiveFilename('föö-1.0.tar.gz')).toBeNull();
  });
});
