import { describe, expect, it } from 'vitest';
import { PipcacheError } from '@pipcache/shared';
import { markerEnvFor } from './marker-env.js';
import { evaluateMarker, markerToString, parseMarker, type MarkerEnv } from './markers.js';

const linux311 = markerEnvFor({ pythonVersion: '3.11.7' });
const win = markerEnvFor({ pythonVersion: '3.11', platform: 'win_amd64' });
const mac = markerEnvFor({ pythonVersion: '3.12', platform: 'macosx_11_0_arm64' });

const ev = (text: string, env: MarkerEnv = linux311): boolean => evaluateMarker(parseMarker(text), env);

describe('markerEnvFor', () => {
  it('defaults to linux x86_64 CPython', () => {
    expect(linux311).toMatchObject({
      python_version: '3.11',
      python_full_version: '3.11.7',
      sys_platform: 'linux',
      platform_system: 'Linux',
      os_name: 'posix',
      platform_machine: 'x86_64',
      implementation_name: 'cpython',
      platform_python_implementation: 'CPython',
      implementation_version: '3.11.7',
    });
  });
  it('derives from platform tags', () => {
    expect(win).toMatchObject({ sys_platform: 'win32', platform_system: 'Windows', os_name: 'nt', platform_machine: 'AMD64', python_full_version: '3.11.0' });
    expect(mac).toMatchObject({ sys_platform: 'darwin', platform_system: 'Darwin', platform_machine: 'arm64' });
    expect(markerEnvFor({ pythonVersion: '3.10', platform: 'manylinux2014_aarch64' }).platform_machine).toBe('aarch64');
    expect(markerEnvFor({ pythonVersion: '3.10', platform: 'musllinux_1_2_x86_64' }).sys_platform).toBe('linux');
  });
  it('rejects unknown platforms and bad versions with E_USAGE', () => {
    expect(() => markerEnvFor({ pythonVersion: '3.11', platform: 'plan9_mips' })).toThrow(/unknown platform tag/);
    expect(() => markerEnvFor({ pythonVersion: 'three' })).toThrow(PipcacheError);
  });
});

describe('evaluateMarker', () => {
  it('compares python versions as versions, not strings', () => {
    expect(ev('python_version >= "3.8"')).toBe(true);
    expect(ev('python_version < "3.9"')).toBe(false);
    expect(ev("python_version > '3.9'")).toBe(true); // '3.11' > '3.9' as a version, not as a string
    expect(ev('python_full_version >= "3.11.4"')).toBe(true);
    expect(ev('python_version == "3.11.*"')).toBe(true);
    expect(ev('python_version ~= "3.10"')).toBe(true);
    expect(ev('"3.8" <= python_version')).toBe(true);
  });
  it('compares platform strings', () => {
    expect(ev("sys_platform == 'win32'")).toBe(false);
    expect(ev("sys_platform == 'win32'", win)).toBe(true);
    expect(ev('platform_system != "Windows"')).toBe(true);
    expect(ev("'linux' in sys_platform")).toBe(true);
    expect(ev("'win' not in sys_platform")).toBe(true);
    expect(ev('platform_machine in "x86_64 AMD64"', win)).toBe(true);
  });
  it('honours and/or precedence and parentheses', () => {
    // and binds tighter: true or (false and false)
    expect(ev('os_name == "posix" or sys_platform == "win32" and python_version < "3"')).toBe(true);
    expect(ev('(os_name == "posix" or sys_platform == "win32") and python_version < "3"')).toBe(false);
    expect(ev('python_version >= "3" and (sys_platform == "darwin" or sys_platform == "linux")')).toBe(true);
  });
  it('evaluates extra with normalization', () => {
    const m = parseMarker('extra == "fast"');
    expect(evaluateMarker(m, linux311)).toBe(false);
    expect(evaluateMarker(m, { ...linux311, extra: '' })).toBe(false);
    expect(evaluateMarker(m, { ...linux311, extra: 'fast' })).toBe(true);
    expect(evaluateMarker(parseMarker("extra == 'Foo_Bar'"), { ...linux311, extra: 'foo-bar' })).toBe(true);
  });
  it('accepts legacy variable spellings', () => {
    expect(ev('sys.platform == "linux"')).toBe(true);
    expect(ev('python_implementation == "CPython"')).toBe(true);
  });
  it('round-trips through markerToString', () => {
    const text = 'python_version >= "3.8" and (sys_platform == "win32" or extra == "x")';
    expect(markerToString(parseMarker(text))).toBe(text);
  });
});

describe('parseMarker errors', () => {
  const bad = [
    'python_version >=',
    'python_version "3.8"',
    'pythonversion >= "3.8"',
    'python_version >= "3.8',
    '(python_version >= "3.8"',
    'python_version >= "3.8" and',
    'python_version >= "3.8" xor os_name == "nt"',
    '"a" == "b"',
    '',
    'python_version => "3"',
  ];
  for (const text of bad) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      try {
        parseMarker(text);
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(PipcacheError);
        expect((err as PipcacheError).code).toBe('E_BAD_REQUEST');
      }
    });
  }
});
