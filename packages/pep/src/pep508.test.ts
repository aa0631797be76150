import { describe, expect, it } from 'vitest';
import { PipcacheError } from '@pipcache/shared';
import { markerEnvFor } from './marker-env.js';
import { evaluateMarker, markerToString } from './markers.js';
import { parseRequirementLine, specifierIsPinned, specifierNamesPrerelease } from './pep508.js';

const env = markerEnvFor({ pythonVersion: '3.11' });

function badLine(line: string): PipcacheError {
  try {
    parseRequirementLine(line, 'req.txt:7');
  } catch (err) {
    expect(err).toBeInstanceOf(PipcacheError);
    return err as PipcacheError;
  }
  throw new Error(`parsed: ${line}`);
}

describe('parseRequirementLine', () => {
  it('parses name, extras, specifier and marker', () => {
    const r = parseRequirementLine('Foo_Bar[Fast, extra2]>=1.0,<2 ; python_version >= "3.8"', 'r.txt:1');
    expect(r).toMatchObject({ name: 'foo-bar', rawName: 'Foo_Bar', extras: ['extra2', 'fast'], specifier: '>=1.0,<2', source: 'r.txt:1', hashes: [] });
    expect(r.url).toBeUndefined();
    expect(markerToString(r.marker!)).toBe('python_version >= "3.8"');
    expect(evaluateMarker(r.marker!, env)).toBe(true);
  });
  it('handles whitespace oddities and parenthesized specifiers', () => {
    expect(parseRequirementLine('  requests  >=  2.0 ,  != 2.1.* ', 's').specifier).toBe('>=2.0,!=2.1.*');
    expect(parseRequirementLine('foo (>=1.0, <2)', 's').specifier).toBe('>=1.0,<2');
    expect(parseRequirementLine('foo[ a ]', 's').extras).toEqual(['a']);
    expect(parseRequirementLine('foo[]', 's').extras).toEqual([]);
    expect(parseRequirementLine('foo;os_name=="nt"', 's').marker).toBeDefined();
    expect(parseRequirementLine('foo\t==1.0', 's').specifier).toBe('==1.0');
  });
  it('parses === and ~=', () => {
    expect(parseRequirementLine('foo===1.0-weird', 's').specifier).toBe('===1.0-weird');
    expect(parseRequirementLine('foo~=1.4.2', 's').specifier).toBe('~=1.4.2');
  });
  it('parses name @ url with and without a marker', () => {
    const r = parseRequirementLine('pip @ https://example.com/pip-24.0-py3-none-any.whl ; python_version >= "3"', 's');
    expect(r).toMatchObject({ name: 'pip', url: 'https://example.com/pip-24.0-py3-none-any.whl', specifier: '' });
    expect(r.marker).toBeDefined();
    expect(parseRequirementLine('foo[x]@file:///tmp/foo.whl', 's').url).toBe('file:///tmp/foo.whl');
  });
  it('reports bad lines with their source', () => {
    expect(badLine('foo >= ').message).toMatch(/^req\.txt:7: invalid version specifier/);
    expect(badLine('foo 1.0').message).toMatch(/^req\.txt:7: expected a version specifier/);
    expect(badLine('foo[bar').message).toMatch(/^req\.txt:7: missing '\]'/);
    expect(badLine('foo ; python_version >').message).toMatch(/^req\.txt:7: invalid marker/);
    expect(badLine('-foo').code).toBe('E_BAD_REQUEST');
    expect(badLine('foo>=1.0,,<2').message).toMatch(/empty version clause/);
    expect(parseRequirementLine('foo>=1.0,', 's').specifier).toBe('>=1.0');
    expect(badLine('foo @ ').message).toMatch(/URL/);
    expect(badLine('foo ~= 1').message).toMatch(/invalid version specifier/);
  });
});

describe('specifier helpers', () => {
  it('detects pre-release names and pins', () => {
    expect(specifierNamesPrerelease('>=1.0b1')).toBe(true);
    expect(specifierNamesPrerelease('>=1.0,<2')).toBe(false);
    expect(specifierNamesPrerelease('')).toBe(false);
    expect(specifierIsPinned('==1.0')).toBe(true);
    expect(specifierIsPinned('===1.0')).toBe(true);
    expect(specifierIsPinned('==1.*')).toBe(false);
    expect(specifierIsPinned('>=1.0')).toBe(false);
  });
});
