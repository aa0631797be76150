import { describe, expect, it } from 'vitest';
import { parseHtmlPage } from './parse-html.js';
import { parseJsonPage } from './parse-json.js';
import { renderHtml, renderJson, rewriteUrls } from './render.js';
import type { ProjectPage } from './types.js';

const PAGE_URL = 'https://proxy.example/simple/foo-bar/';
const SHA = 'ab'.repeat(32);
const SHA2 = 'cd'.repeat(32);

/** A page using only what both formats can carry. */
function basePage(): ProjectPage {
  return {
    name: 'Foo.Bar',
    files: [
      {
        filename: 'foo_bar-1.0.tar.gz',
        url: 'https://files.example/p/foo_bar-1.0.tar.gz',
        hashes: { sha256: SHA },
        requiresPython: '>=3.8,<4',
        yanked: false,
        coreMetadata: false,
      },
      {
        filename: 'foo_bar-1.0-py3-none-any.whl',
        url: 'https://files.example/p/foo_bar-1.0-py3-none-any.whl?token=a&b=%3Cc%3E',
        hashes: { sha256: SHA },
        yanked: '',
        coreMetadata: { hashes: { sha256: SHA2 } },
      },
      {
        filename: 'foo_bar-2.0rc1-py3-none-any.whl',
        url: 'https://files.example/p/foo_bar-2.0rc1-py3-none-any.whl',
        hashes: {},
        requiresPython: '>=3.10',
        yanked: 'broken "quotes" & <tags> \'single\'',
        coreMetadata: { hashes: {} },
      },
    ],
  };
}

describe('renderHtml', () => {
  it('renders PEP 503 with data attributes', () => {
    const html = renderHtml(basePage());
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).toContain('<meta name="pypi:repository-version" content="1.1">');
    expect(html).toContain('<title>Links for Foo.Bar</title>');
    expect(html).toContain('<h1>Links for Foo.Bar</h1>');
    expect(html).toContain(
      `<a href="https://files.example/p/foo_bar-1.0.tar.gz#sha256=${SHA}" data-requires-python="&gt;=3.8,&lt;4">foo_bar-1.0.tar.gz</a><br />`,
    );
    expect(html).toContain(
      `href="https://files.example/p/foo_bar-1.0-py3-none-any.whl?token=a&amp;b=%3Cc%3E#sha256=${SHA}" data-yanked="" data-core-metadata="sha256=${SHA2}" data-dist-info-metadata="sha256=${SHA2}">`,
    );
    expect(html).toContain(
      'data-yanked="broken &quot;quotes&quot; &amp; &lt;tags&gt; &#39;single&#39;" data-core-metadata="true" data-dist-info-metadata="true"',
    );
  });

  it('escapes names and filenames in text', () => {
    const page: ProjectPage = {
      name: '<script>alert(1)</script>',
      files: [{ filename: 'a&b<c>.tar.gz', url: 'https://x/"onmouseover="x', hashes: {}, yanked: false, coreMetadata: false }],
    };
    const html = renderHtml(page);
    expect(html).not.toContain('<script>');
    expect(html).toContain('Links for &lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('<a href="https://x/&quot;onmouseover=&quot;x">a&amp;b&lt;c&gt;.tar.gz</a>');
  });

  it('falls back to another hash pip understands when there is no sha256', () => {
    const page: ProjectPage = {
      name: 'x',
      files: [{ filename: 'x-1.tar.gz', url: 'https://x/x-1.tar.gz', hashes: { md5: 'aa', sha512: 'bb' }, yanked: false, coreMetadata: false }],
    };
    expect(renderHtml(page)).toContain('href="https://x/x-1.tar.gz#sha512=bb"');
  });

  it('round-trips through parseHtmlPage', () => {
    const page = basePage();
    const html = renderHtml(page);
    const { page: parsed, rejected } = parseHtmlPage(html, PAGE_URL, page.name);
    expect(rejected).toEqual([]);
    expect(parsed).toEqual(page);
  });
});

describe('renderJson', () => {
  it('renders PEP 691 v1.1 JSON', () => {
    const page: ProjectPage = { ...basePage(), lastSerial: 42 };
    const first = page.files[0];
    if (first) {
      first.size = 100;
      first.uploadTime = '2024-01-01T00:00:00Z';
    }
    const json = JSON.parse(renderJson(page)) as Record<string, unknown>;
    expect(json).toEqual({
      meta: { 'api-version': '1.1', '_last-serial': 42 },
      name: 'Foo.Bar',
      versions: ['1.0', '2.0rc1'],
      files: [
        {
          filename: 'foo_bar-1.0.tar.gz',
          url: 'https://files.example/p/foo_bar-1.0.tar.gz',
          hashes: { sha256: SHA },
          'requires-python': '>=3.8,<4',
          yanked: false,
          size: 100,
          'upload-time': '2024-01-01T00:00:00Z',
        },
        {
          filename: 'foo_bar-1.0-py3-none-any.whl',
          url: 'https://files.example/p/foo_bar-1.0-py3-none-any.whl?token=a&b=%3Cc%3E',
          hashes: { sha256: SHA },
          'core-metadata': { sha256: SHA2 },
          yanked: true,
        },
        {
          filename: 'foo_bar-2.0rc1-py3-none-any.whl',
          url: 'https://files.example/p/foo_bar-2.0rc1-py3-none-any.whl',
          hashes: {},
          'requires-python': '>=3.10',
          'core-metadata': true,
          yanked: 'broken "quotes" & <tags> \'single\'',
        },
      ],
    });
  });

  it('never emits dist-info-metadata', () => {
    expect(renderJson(basePage())).not.toContain('dist-info-metadata');
  });

  it('merges, de-duplicates and PEP 440-sorts versions', () => {
    const page: ProjectPage = { ...basePage(), versions: ['10.0', '2.0rc1', '1.0', '1.10', '1.9', '0.1.dev1', '1.0'] };
    const json = JSON.parse(renderJson(page)) as { versions: string[] };
    expect(json.versions).toEqual(['0.1.dev1', '1.0', '1.9', '1.10', '2.0rc1', '10.0']);
    const none = JSON.parse(renderJson({ name: 'x', files: [] })) as { versions: string[] };
    expect(none.versions).toEqual([]);
  });

  it('omits _last-serial when unknown', () => {
    const json = JSON.parse(renderJson(basePage())) as { meta: Record<string, unknown> };
    expect(json.meta).toEqual({ 'api-version': '1.1' });
  });

  it('round-trips through parseJsonPage', () => {
    const page: ProjectPage = { ...basePage(), versions: ['1.0', '2.0rc1', '3.0'], lastSerial: 7 };
    const first = page.files[0];
    if (first) {
      first.size = 0;
      first.uploadTime = '2024-01-01T00:00:00.000000Z';
      first.hashes = { sha256: SHA, md5: 'ef'.repeat(16) };
    }
    const { page: parsed, rejected } = parseJsonPage(renderJson(page), PAGE_URL);
    expect(rejected).toEqual([]);
    expect(parsed).toEqual(page);
  });
});

describe('rewriteUrls', () => {
  it('returns a deep-enough copy with new URLs', () => {
    const page = { ...basePage(), versions: ['1.0'], lastSerial: 3 };
    const before = structuredClone(page);
    const out = rewriteUrls(page, (f) => `https://proxy.example/files/${f.filename}`);
    expect(out.files.map((f) => f.url)).toEqual(page.files.map((f) => `https://proxy.example/files/${f.filename}`));
    expect(out.versions).toEqual(['1.0']);
    expect(out.lastSerial).toBe(3);
    expect(page).toEqual(before);
    // mutating the copy does not touch the original
    const f0 = out.files[0];
    if (f0) f0.hashes['md5'] = 'x';
    out.versions?.push('9');
    expect(page).toEqual(before);
    expect(out.files[1]?.coreMetadata).toEqual(page.files[1]?.coreMetadata);
    expect(out.files[1]?.coreMetadata).not.toBe(page.files[1]?.coreMetadata);
  });
});
