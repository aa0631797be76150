import { describe, expect, it } from 'vitest';
import { parseCoreMetadata, parseRequiresTxt, pkgInfoIsComplete } from './core-metadata.js';

const METADATA = [
  'Metadata-Version: 2.1',
  'Name: Demo_Pkg',
  'Version: 1.2.3',
  'Summary: a demo',
  '  continued summary',
  'Requires-Python: >=3.8',
  'Provides-Extra: Fast',
  'Requires-Dist: requests (>=2.0)',
  "Requires-Dist: uvloop ; extra == 'fast'",
  'Description-Content-Type: text/markdown',
  '',
  'Requires-Dist: not-a-header-this-is-the-body',
  '',
].join('\n');

describe('parseCoreMetadata', () => {
  it('reads headers up to the body', () => {
    const md = parseCoreMetadata(METADATA);
    expect(md).toEqual({
      name: 'Demo_Pkg',
      version: '1.2.3',
      requiresDist: ['requests (>=2.0)', "uvloop ; extra == 'fast'"],
      requiresPython: '>=3.8',
      providesExtra: ['fast'],
      metadataVersion: '2.1',
      dynamic: [],
    });
  });
  it('handles CRLF, continuation lines and Dynamic', () => {
    const md = parseCoreMetadata('Metadata-Version: 2.2\r\nName: x\r\nVersion: 1\r\nDynamic: Requires-Dist\r\nRequires-Dist: a;\r\n  python_version<"3"\r\n');
    expect(md.requiresDist).toEqual(['a;\npython_version<"3"']);
    expect(md.dynamic).toEqual(['requires-dist']);
  });
  it('keeps reading past folded lines that hold only whitespace; only an empty line ends the headers', () => {
    // The shape of pandas 3.0.x: a multi-line License whose blank-looking lines are indented spaces.
    const text = [
      'Metadata-Version: 2.1',
      'Name: pandas',
      'Version: 3.0.6',
      'License: BSD 3-Clause License',
      '         ',
      '         Copyright (c) 2008-2011, AQR Capital Management, LLC',
      '\t',
      '         All rights reserved.',
      'Requires-Python: >=3.11',
      'Requires-Dist: numpy>=1.26.0; python_version < "3.14"',
      'Requires-Dist: python-dateutil>=2.8.2',
      'Provides-Extra: test',
      '',
      'Requires-Dist: body-text',
    ].join('\n');
    const md = parseCoreMetadata(text);
    expect(md.requiresDist).toEqual(['numpy>=1.26.0; python_version < "3.14"', 'python-dateutil>=2.8.2']);
    expect(md.requiresPython).toBe('>=3.11');
    expect(md.providesExtra).toEqual(['test']);
    // The same with CRLF line ends.
    expect(parseCoreMetadata('Name: x\r\nVersion: 1\r\nLicense: a\r\n   \r\nRequires-Dist: y\r\n\r\n').requiresDist).toEqual(['y']);
  });
  it('ends the headers where the body starts without a separator, as email.parser does', () => {
    const md = parseCoreMetadata('Name: x\nVersion: 1\nRequires-Dist: a\nThis is the description: it has a colon\nRequires-Dist: b\n');
    expect(md.requiresDist).toEqual(['a']);
  });
  it('requires Name and Version', () => {
    expect(() => parseCoreMetadata('Version: 1\n')).toThrow(/no Name/);
    expect(() => parseCoreMetadata('Name: x\n')).toThrow(/no Version/);
  });
});

describe('parseRequiresTxt', () => {
  it('turns sections into markers', () => {
    expect(
      parseRequiresTxt(
        ['six>=1.0', 'attrs', '', '[fast]', 'uvloop', '', '[tls:python_version < "3.8"]', 'pyopenssl', '', '[:sys_platform == "win32"]', 'colorama', ''].join('\n'),
      ),
    ).toEqual([
      'six>=1.0',
      'attrs',
      'uvloop ; extra == "fast"',
      'pyopenssl ; (python_version < "3.8") and extra == "tls"',
      'colorama ; (sys_platform == "win32")',
    ]);
  });
});

describe('pkgInfoIsComplete', () => {
  it('trusts PKG-INFO that lists requirements or is 2.2+ without dynamic Requires-Dist', () => {
    expect(pkgInfoIsComplete('Metadata-Version: 1.1\nName: x\nVersion: 1\nRequires-Dist: a\n')).toBe(true);
    expect(pkgInfoIsComplete('Metadata-Version: 2.2\nName: x\nVersion: 1\n')).toBe(true);
    expect(pkgInfoIsComplete('Metadata-Version: 2.1\nName: x\nVersion: 1\n')).toBe(false);
    expect(pkgInfoIsComplete('Metadata-Version: 2.3\nName: x\nVersion: 1\nDynamic: Requires-Dist\n')).toBe(false);
  });
});
