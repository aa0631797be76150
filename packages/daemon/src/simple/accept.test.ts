import { describe, expect, it } from 'vitest';
import { negotiatePageFormat } from './accept.js';

describe('negotiatePageFormat', () => {
  it.each([
    // pip >= 22.2
    [
      'application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01',
      'json',
    ],
    // old pip
    ['text/html', 'html'],
    [undefined, 'html'],
    ['', 'html'],
    ['   ', 'html'],
    ['*/*', 'html'],
    ['text/*', 'html'],
    ['application/*', 'html-v1'],
    ['application/vnd.pypi.simple.v1+json', 'json'],
    ['application/vnd.pypi.simple.latest+json', 'json'],
    ['application/vnd.pypi.simple.v1+html', 'html-v1'],
    ['application/vnd.pypi.simple.latest+html', 'html-v1'],
    ['APPLICATION/VND.PYPI.SIMPLE.V1+JSON', 'json'],
    // q-values decide
    ['text/html, application/vnd.pypi.simple.v1+json;q=0.5', 'html'],
    ['text/html;q=0.2, application/vnd.pypi.simple.v1+html;q=0.3', 'html-v1'],
    // ties between explicit types follow server preference
    ['text/html, application/vnd.pypi.simple.v1+json', 'json'],
    ['text/html;q=0.5, application/vnd.pypi.simple.v1+html;q=0.5', 'html-v1'],
    // an explicit type beats a wildcard at the same q
    ['text/html, */*', 'html'],
    ['application/vnd.pypi.simple.v1+json, */*', 'json'],
    // browsers
    ['text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', 'html'],
    // q=0 excludes, even when a wildcard would match
    ['text/html;q=0, */*', 'html-v1'],
    ['*/*, application/vnd.pypi.simple.v1+json;q=0, application/vnd.pypi.simple.latest+json;q=0', 'html'],
    ['application/*;q=0.5, application/vnd.pypi.simple.v1+json;q=0, text/html;q=0.1', 'html-v1'],
    // odd spacing, params and extensions
    ['text/html ; charset=utf-8 ; q=1', 'html'],
    ['application/vnd.pypi.simple.v1+json;q=0.9;foo="a,b", text/html;q=0.8', 'json'],
    ['text/html;q=1.000', 'html'],
    // malformed ranges are ignored
    ['garbage, text/html', 'html'],
    ['text/html;q=2, application/vnd.pypi.simple.v1+json;q=0.1', 'json'],
    ['garbage', 'html'],
    [',,,', 'html'],
  ] as const)('%j -> %s', (header, want) => {
    expect(negotiatePageFormat(header)).toBe(want);
  });

  it.each([
    ['application/json'],
    ['image/png, text/plain'],
    ['text/html;q=0'],
    ['*/*;q=0'],
    ['application/vnd.pypi.simple.v1+json;q=0, text/html;q=0, application/vnd.pypi.simple.v1+html;q=0'],
    ['application/vnd.pypi.simple.v2+json'],
  ])('%j -> null (406)', (header) => {
    expect(negotiatePageFormat(header)).toBeNull();
  });
});
