import { describe, expect, it } from 'vitest';
import { isPipcacheError } from '@pipcache/shared';
import { parseJsonPage } from './parse-json.js';

const PAGE = 'https://pypi.org/simple/foo/';
const SHA = 'a'.repeat(64);

function doc(files: unknown[], extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ meta: { 'api-version': '1.1' }, name: 'foo', files, ...extra });
}

function file(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { filename: 'foo-1.0.tar.gz', url: 'https://files.example/foo-1.0.tar.gz', hashes: { sha256: SHA }, ...extra };
}

function expectInvalid(body: string, message?: RegExp): void {
  let caught: unknown;
  try {
    parseJsonPage(body, PAGE);
  } catch (err) {
    caught = err;
  }
  expect(isPipcacheError(caught, 'E_PAGE_INVALID')).toBe(true);
  if (message !== undefined) expect((caught as Error).message).toMatch(message);
}

describe('parseJsonPage', () => {
  it('parses a full PEP 691 / PEP 700 page', () => {
    const body = JSON.stringify({
      meta: { 'api-version': '1.1', '_last-serial': 12345 },
      name: 'foo',
      versions: ['1.0', '1.1'],
      files: [
        {
          filename: 'foo-1.0.tar.gz',
          url: 'https://files.example/foo-1.0.tar.gz',
          hashes: { sha256: SHA.toUpperCase() },
          'requires-python': '>=3.8',
          yanked: false,
          size: 1234,
          'upload-time': '2024-01-01T00:00:00.000000Z',
        },
        {
          filename: 'foo-1.1-py3-none-any.whl',
          url: '../../packages/foo-1.1-py3-none-any.whl',
          hashes: {},
          'requires-python': null,
          'core-metadata': { sha256: SHA },
          'data-dist-info-metadata': { sha256: 'b'.repeat(64) },
          yanked: 'broken build',
        },
      ],
    });
    const { page, rejected } = parseJsonPage(body, PAGE);
    expect(rejected).toEqual([]);
    expect(page).toEqual({
      name: 'foo',
      versions: ['1.0', '1.1'],
      lastSerial: 12345,
      files: [
        {
          filename: 'foo-1.0.tar.gz',
          url: 'https://files.example/foo-1.0.tar.gz',
          hashes: { sha256: SHA },
          requiresPython: '>=3.8',
          yanked: false,
          coreMetadata: false,
          size: 1234,
          uploadTime: '2024-01-01T00:00:00.000000Z',
        },
        {
          filename: 'foo-1.1-py3-none-any.whl',
          url: 'https://pypi.org/packages/foo-1.1-py3-none-any.whl',
          hashes: {},
          yanked: 'broken build',
          coreMetadata: { hashes: { sha256: SHA } },
        },
      ],
    });
  });

  it('maps yanked values', () => {
    const body = doc([
      file({ filename: 'a-1.tar.gz', yanked: true }),
      file({ filename: 'b-1.tar.gz', yanked: '' }),
      file({ filename: 'c-1.tar.gz', yanked: 'why' }),
      file({ filename: 'd-1.tar.gz', yanked: false }),
      file({ filename: 'e-1.tar.gz' }),
    ]);
    expect(parseJsonPage(body, PAGE).page.files.map((f) => f.yanked)).toEqual(['', '', 'why', false, false]);
  });

  it('maps core-metadata and falls back to dist-info-metadata', () => {
    const body = doc([
      file({ filename: 'a-1.tar.gz', 'core-metadata': true }),
      file({ filename: 'b-1.tar.gz', 'dist-info-metadata': true }),
      file({ filename: 'c-1.tar.gz', 'core-metadata': false, 'dist-info-metadata': true }),
      file({ filename: 'd-1.tar.gz', 'dist-info-metadata': { sha256: SHA, bogus: 'ff', md5: 'nothex' } }),
      file({ filename: 'e-1.tar.gz' }),
    ]);
    expect(parseJsonPage(body, PAGE).page.files.map((f) => f.coreMetadata)).toEqual([
      { hashes: {} },
      { hashes: {} },
      false,
      { hashes: { sha256: SHA } },
      false,
    ]);
  });

  it('keeps only known algorithms with hex digests', () => {
    const body = doc([
      file({ hashes: { SHA256: 'ABC', sha512: 'xyz', md5: 42, __proto__: 'ff', blake2b: 'ff', 'sha-1': 'ff' } }),
    ]);
    expect(parseJsonPage(body, PAGE).page.files[0]?.hashes).toEqual({ sha256: 'abc', blake2b: 'ff' });
  });

  it('strips URL fragments and resolves relative URLs', () => {
    const body = doc([file({ url: 'foo-1.0.tar.gz#sha256=dead' })]);
    expect(parseJsonPage(body, PAGE).page.files[0]?.url).toBe('https://pypi.org/simple/foo/foo-1.0.tar.gz');
  });

  it('rejects unsafe filenames and non-http URLs, duplicates', () => {
    const body = doc([
      file({ filename: '../../etc/passwd' }),
      file({ filename: 'a\u0000b' }),
      file({ filename: '' }),
      file({ filename: 'js-1.0.tar.gz', url: 'javascript:alert(1)' }),
      file({ filename: 'f-1.0.tar.gz', url: 'file:///etc/passwd' }),
      file({ filename: 'bad-1.0.tar.gz', url: 'http://[nope' }),
      file({ filename: 'ok-1.0.tar.gz' }),
      file({ filename: 'ok-1.0.tar.gz' }),
    ]);
    const { page, rejected } = parseJsonPage(body, PAGE);
    expect(page.files.map((f) => f.filename)).toEqual(['ok-1.0.tar.gz']);
    expect(rejected).toHaveLength(7);
    expect(rejected[0]).toContain('unsafe');
    expect(rejected[3]).toContain('javascript:');
    expect(rejected[5]).toContain('invalid URL');
    expect(rejected[6]).toContain('duplicate');
  });

  it.each([
    ['malformed JSON', '{"meta": ', /not JSON/],
    ['empty body', '', /not JSON/],
    ['array root', '[]', /top level/],
    ['null root', 'null', /top level/],
    ['no meta', JSON.stringify({ name: 'foo', files: [] }), /meta/],
    ['api 2.0', JSON.stringify({ meta: { 'api-version': '2.0' }, name: 'foo', files: [] }), /api-version/],
    ['api number', JSON.stringify({ meta: { 'api-version': 1.0 }, name: 'foo', files: [] }), /api-version/],
    ['api "1"', JSON.stringify({ meta: { 'api-version': '1' }, name: 'foo', files: [] }), /api-version/],
    ['name missing', JSON.stringify({ meta: { 'api-version': '1.0' }, files: [] }), /name/],
    ['files object', JSON.stringify({ meta: { 'api-version': '1.0' }, name: 'foo', files: {} }), /files/],
    ['file not object', doc(['foo-1.0.tar.gz']), /files\[0\]/],
    ['filename number', doc([file({ filename: 1 })]), /filename/],
    ['url missing', doc([{ filename: 'a-1.tar.gz', hashes: {} }]), /url/],
    ['hashes missing', doc([{ filename: 'a-1.tar.gz', url: 'https://x/a' }]), /hashes/],
    ['hashes array', doc([file({ hashes: ['sha256'] })]), /hashes/],
    ['requires-python number', doc([file({ 'requires-python': 3 })]), /requires-python/],
    ['yanked number', doc([file({ yanked: 1 })]), /yanked/],
    ['core-metadata string', doc([file({ 'core-metadata': 'true' })]), /core-metadata/],
    ['dist-info-metadata string', doc([file({ 'dist-info-metadata': 'sha256=ab' })]), /dist-info-metadata/],
    ['size string', doc([file({ size: '12' })]), /size/],
    ['size negative', doc([file({ size: -1 })]), /size/],
    ['size fractional', doc([file({ size: 1.5 })]), /size/],
    ['upload-time number', doc([file({ 'upload-time': 0 })]), /upload-time/],
    ['versions not strings', doc([], { versions: [1] }), /versions/],
    ['versions object', doc([], { versions: {} }), /versions/],
  ])('throws E_PAGE_INVALID on %s', (_label, body, message) => {
    expectInvalid(body, message);
  });

  it('ignores a bogus _last-serial and unknown fields', () => {
    const body = JSON.stringify({
      meta: { 'api-version': '1.0', '_last-serial': 'abc' },
      name: 'foo',
      files: [],
      extra: { anything: true },
    });
    const { page } = parseJsonPage(body, PAGE);
    expect(page).toEqual({ name: 'foo', files: [] });
  });

  it('does not let __proto__ keys pollute anything', () => {
    const body = `{"meta":{"api-version":"1.0"},"name":"foo","__proto__":{"polluted":1},"files":[{"filename":"a-1.tar.gz","url":"https://x/a","hashes":{"__proto__":{"x":1}}}]}`;
    const { page } = parseJsonPage(body, PAGE);
    expect(page.files[0]?.hashes).toEqual({});
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});
