import { describe, expect, it } from 'vitest';
import { displayPath, shellQuote } from './util.js';
import { parseMetadataHeaders } from './venv.js';

describe('shellQuote', () => {
  it('leaves safe words bare and single-quotes the rest', () => {
    expect(shellQuote('./packages')).toBe('./packages');
    expect(shellQuote('attrs==25.1.0')).toBe('attrs==25.1.0');
    expect(shellQuote('.[fast]')).toBe("'.[fast]'");
    expect(shellQuote('foo>=1')).toBe("'foo>=1'");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
  });
});

describe('displayPath', () => {
  it('is relative inside the cwd and absolute outside it', () => {
    expect(displayPath('/a/b/c.txt', '/a')).toBe('b/c.txt');
    expect(displayPath('/a', '/a')).toBe('.');
    expect(displayPath('/x/c.txt', '/a')).toBe('/x/c.txt');
  });
});

describe('parseMetadataHeaders', () => {
  it('reads the first Name and Version from the headers only', () => {
    const text = 'Metadata-Version: 2.1\r\nName: Foo.Bar\r\nSummary: a\r\n  continued\r\nVersion: 1.0\r\n\r\nName: body\r\n';
    expect(parseMetadataHeaders(text)).toEqual({ name: 'Foo.Bar', version: '1.0' });
  });
});
