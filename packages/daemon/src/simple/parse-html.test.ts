import { describe, expect, it } from 'vitest';
import { isPipcacheError } from '@pipcache/shared';
import { parseHtmlPage } from './parse-html.js';

const PAGE = 'https://pypi.org/simple/foo/';
const SHA = 'a'.repeat(64);

function parse(body: string, pageUrl = PAGE) {
  return parseHtmlPage(body, pageUrl, 'foo');
}

describe('parseHtmlPage', () => {
  it('parses a PyPI-style page', () => {
    const body = `<!DOCTYPE html>
<html><head><meta name="pypi:repository-version" content="1.1"><title>Links for foo</title></head>
<body><h1>Links for foo</h1>
<a href="https://files.pythonhosted.org/packages/aa/bb/foo-1.0.tar.gz#sha256=${SHA.toUpperCase()}" data-requires-python="&gt;=3.8">foo-1.0.tar.gz</a><br />
<a href="https://files.pythonhosted.org/packages/cc/dd/foo-1.0-py3-none-any.whl#sha256=${SHA}" data-requires-python="&gt;=3.8" data-dist-info-metadata="sha256=${'b'.repeat(64)}" data-core-metadata="sha256=${'c'.repeat(64)}">foo-1.0-py3-none-any.whl</a><br />
</body></html>`;
    const { page, rejected } = parse(body);
    expect(rejected).toEqual([]);
    expect(page).toEqual({
      name: 'foo',
      files: [
        {
          filename: 'foo-1.0.tar.gz',
          url: 'https://files.pythonhosted.org/packages/aa/bb/foo-1.0.tar.gz',
          hashes: { sha256: SHA },
          requiresPython: '>=3.8',
          yanked: false,
          coreMetadata: false,
        },
        {
          filename: 'foo-1.0-py3-none-any.whl',
          url: 'https://files.pythonhosted.org/packages/cc/dd/foo-1.0-py3-none-any.whl',
          hashes: { sha256: SHA },
          requiresPython: '>=3.8',
          yanked: false,
          coreMetadata: { hashes: { sha256: 'c'.repeat(64) } },
        },
      ],
    });
  });

  it('resolves relative hrefs against the page URL', () => {
    const { page } = parse('<a href="../../packages/foo-1.0.tar.gz">foo-1.0.tar.gz</a>');
    expect(page.files[0]?.url).toBe('https://pypi.org/packages/foo-1.0.tar.gz');
    const { page: p2 } = parse('<a href="foo-1.0.tar.gz?x=1#md5=ABCDEF">foo-1.0.tar.gz</a>');
    expect(p2.files[0]?.url).toBe('https://pypi.org/simple/foo/foo-1.0.tar.gz?x=1');
    expect(p2.files[0]?.hashes).toEqual({ md5: 'abcdef' });
  });

  it('honours <base href>, even after the anchors, first one wins', () => {
    const body =
      '<a href="foo-1.0.tar.gz">foo-1.0.tar.gz</a><base href="https://mirror.example/dl/"><base href="https://other.example/">';
    expect(parse(body).page.files[0]?.url).toBe('https://mirror.example/dl/foo-1.0.tar.gz');
    const rel = '<head><base href="../../files/"></head><a href="foo-1.0.tar.gz">foo-1.0.tar.gz</a>';
    expect(parse(rel).page.files[0]?.url).toBe('https://pypi.org/files/foo-1.0.tar.gz');
  });

  it('decodes entities in attributes and text', () => {
    const body =
      '<a href="foo-1.0.tar.gz?a=1&amp;b=2" data-requires-python="&gt;=3.8,&lt;4&#x2C;!=3.9.*" data-yanked="bad &quot;release&quot;">foo&#45;1.0.tar.gz</a>';
    const f = parse(body).page.files[0];
    expect(f?.filename).toBe('foo-1.0.tar.gz');
    expect(f?.url).toBe('https://pypi.org/simple/foo/foo-1.0.tar.gz?a=1&b=2');
    expect(f?.requiresPython).toBe('>=3.8,<4,!=3.9.*');
    expect(f?.yanked).toBe('bad "release"');
  });

  it('handles yanked: empty, absent, reason', () => {
    const body = [
      '<a href="a-1.0.tar.gz" data-yanked>a-1.0.tar.gz</a>',
      '<a href="b-1.0.tar.gz" data-yanked="">b-1.0.tar.gz</a>',
      '<a href="c-1.0.tar.gz" data-yanked="broken">c-1.0.tar.gz</a>',
      '<a href="d-1.0.tar.gz">d-1.0.tar.gz</a>',
    ].join('\n');
    expect(parse(body).page.files.map((f) => f.yanked)).toEqual(['', '', 'broken', false]);
  });

  it('handles core metadata attributes', () => {
    const body = [
      '<a href="a.whl" data-core-metadata="true">a-1.0-py3-none-any.whl</a>',
      '<a href="b.whl" data-dist-info-metadata="true">b-1.0-py3-none-any.whl</a>',
      `<a href="c.whl" data-dist-info-metadata="sha256=${SHA}">c-1.0-py3-none-any.whl</a>`,
      '<a href="d.whl" data-core-metadata="false" data-dist-info-metadata="true">d-1.0-py3-none-any.whl</a>',
      '<a href="e.whl">e-1.0-py3-none-any.whl</a>',
      '<a href="f.whl" data-core-metadata="sha256=nothex!">f-1.0-py3-none-any.whl</a>',
      '<a href="g.whl" data-core-metadata="SHA256=ABCD">g-1.0-py3-none-any.whl</a>',
    ].join('\n');
    expect(parse(body).page.files.map((f) => f.coreMetadata)).toEqual([
      { hashes: {} },
      { hashes: {} },
      { hashes: { sha256: SHA } },
      false,
      false,
      { hashes: {} },
      { hashes: { sha256: 'abcd' } },
    ]);
  });

  it('ignores non-hash and non-hex fragments', () => {
    const body = [
      '<a href="a.tar.gz#sha256=xyz">a-1.0.tar.gz</a>',
      '<a href="b.tar.gz#egg=dead">b-1.0.tar.gz</a>',
      '<a href="c.tar.gz#sha512=ABC&amp;sha256=def">c-1.0.tar.gz</a>',
      '<a href="d.tar.gz#">d-1.0.tar.gz</a>',
    ].join('\n');
    expect(parse(body).page.files.map((f) => f.hashes)).toEqual([{}, {}, { sha512: 'abc', sha256: 'def' }, {}]);
  });

  it('rejects hostile anchors with a reason', () => {
    const body = [
      '<a href="../../etc/passwd">../../etc/passwd</a>',
      '<a href="javascript:alert(1)">evil-1.0.tar.gz</a>',
      '<a href="java\nscript:alert(1)">evil2-1.0.tar.gz</a>',
      '<a href="file:///etc/passwd">passwd</a>',
      '<a href="data:text/plain,hi">data-1.0.tar.gz</a>',
      '<a>nohref-1.0.tar.gz</a>',
      '<a name="top"></a>',
      '<a href="x">.hidden</a>',
      '<a href="x">..</a>',
      '<a href="x">a&#x7f;b</a>',
      '<a href="x">a\u0001b</a>',
      '<a href="x">a\\b</a>',
      '<a href="http://[bad">bad-1.0.tar.gz</a>',
      '<a href="ok-1.0.tar.gz">ok-1.0.tar.gz</a>',
    ].join('\n');
    const { page, rejected } = parse(body);
    expect(page.files.map((f) => f.filename)).toEqual(['ok-1.0.tar.gz']);
    expect(rejected).toHaveLength(13);
    expect(rejected[0]).toContain('../../etc/passwd');
    expect(rejected[0]).toContain('unsafe');
    expect(rejected[1]).toContain('javascript:');
    expect(rejected[5]).toContain('no href');
    expect(rejected[12]).toContain('invalid URL');
  });

  it('rejects duplicate filenames after the first', () => {
    const body = '<a href="one/x-1.0.tar.gz">x-1.0.tar.gz</a><a href="two/x-1.0.tar.gz">x-1.0.tar.gz</a>';
    const { page, rejected } = parse(body);
    expect(page.files.map((f) => f.url)).toEqual(['https://pypi.org/simple/foo/one/x-1.0.tar.gz']);
    expect(rejected).toEqual(['"x-1.0.tar.gz": duplicate filename']);
  });

  it('copes with huge attributes and names without echoing them whole', () => {
    const huge = 'x'.repeat(1_000_000);
    const body = `<a href="ok.tar.gz" data-yanked="${huge}" data-requires-python="${huge}">ok-1.0.tar.gz</a><a href="h">${huge}</a>`;
    const { page, rejected } = parse(body);
    expect(page.files[0]?.yanked).toHaveLength(1_000_000);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]?.length).toBeLessThan(300);
  });

  it('trims anchor text, collects text across nested tags, handles unclosed and nested anchors', () => {
    const body = '<a href="a">\n  a-1.0<b>.tar</b>.gz \n</a><a href="b">b-1.0.tar.gz<a href="c">c-1.0.tar.gz';
    const { page, rejected } = parse(body);
    expect(rejected).toEqual([]);
    expect(page.files.map((f) => [f.filename, f.url])).toEqual([
      ['a-1.0.tar.gz', 'https://pypi.org/simple/foo/a'],
      ['b-1.0.tar.gz', 'https://pypi.org/simple/foo/b'],
      ['c-1.0.tar.gz', 'https://pypi.org/simple/foo/c'],
    ]);
  });

  it('accepts upper-case tags and attributes, first duplicate attribute wins', () => {
    const { page } = parse('<A HREF="first" href="second" DATA-YANKED="why">a-1.0.tar.gz</A>');
    expect(page.files[0]).toMatchObject({ url: 'https://pypi.org/simple/foo/first', yanked: 'why' });
  });

  it('treats an empty data-requires-python as absent', () => {
    const f = parse('<a href="a" data-requires-python="">a-1.0.tar.gz</a>').page.files[0];
    expect(f).toBeDefined();
    expect(f && 'requiresPython' in f).toBe(false);
  });

  it('returns an empty page for a page without anchors or for garbage', () => {
    expect(parse('').page).toEqual({ name: 'foo', files: [] });
    expect(parse('{"not": "html"}').page.files).toEqual([]);
    expect(parse('<<<>>>&&&<a').page.files).toEqual([]);
  });

  it('refuses an unsupported major repository version (PEP 629)', () => {
    const body = '<meta name="pypi:repository-version" content="2.0"><a href="a">a-1.0.tar.gz</a>';
    try {
      parse(body);
      expect.unreachable();
    } catch (err) {
      expect(isPipcacheError(err, 'E_PAGE_INVALID')).toBe(true);
    }
    expect(parse('<meta name="pypi:repository-version" content="1.0">').page.files).toEqual([]);
  });

  it('uses the given project name', () => {
    expect(parseHtmlPage('', PAGE, 'Foo.Bar').page.name).toBe('Foo.Bar');
  });
});
