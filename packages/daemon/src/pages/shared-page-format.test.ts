import { describe, expect, it } from 'vitest';
import { isPipcacheError } from '@pipcache/shared';
import type { FileRecord, PageRecord } from '../store/catalog.js';
import { decodeSharedPage, encodeSharedPage, type DecodeContext } from './shared-page-format.js';

const SHA = 'a'.repeat(64);
const META = 'b'.repeat(64);
const NOW = Date.parse('2025-01-01T00:00:00Z');
const FILE_HOST = 'https://files.pythonhosted.org';
const ctx: DecodeContext = {
  origin: 'pypi.org',
  project: 'demo-pkg',
  isIndexUrl: (u) => u.protocol === 'https:' && (u.hostname === 'pypi.org' || u.hostname === 'files.pythonhosted.org') && u.port === '',
  now: NOW,
};

const record: PageRecord = {
  project: 'demo-pkg',
  name: 'Demo_Pkg',
  origin: 'pypi.org',
  upstreamUrl: 'https://pypi.org/simple/demo-pkg/',
  etag: '"abc"',
  lastModified: 'Wed, 01 Jan 2025 00:00:00 GMT',
  fetchedAt: NOW - 1000,
  maxAge: 600,
  lastSerial: 42,
};

function file(filename: string, over: Partial<FileRecord> = {}): FileRecord {
  return {
    project: 'demo-pkg',
    version: '1.0',
    filename,
    kind: filename.endsWith('.whl') ? 'wheel' : 'sdist',
    origin: 'pypi.org',
    url: `${FILE_HOST}/packages/aa/bb/${filename}`,
    sha256: SHA,
    size: 123,
    requiresPython: '>=3.8',
    yanked: false,
    coreMetadata: { hashes: { sha256: META } },
    uploadTime: '2024-12-31T10:00:00.000000Z',
    firstSeen: '2025-01-01T00:00:00Z',
    lastServed: null,
    hits: 0,
    stored: false,
    storedSize: null,
    metadataStored: null,
    metadataSize: null,
    goneUpstream: false,
    ...over,
  };
}

const WHEEL = 'demo_pkg-1.0-py3-none-any.whl';
const SDIST = 'demo_pkg-1.0.tar.gz';

/** The document of a good page, as a plain object to tamper with. */
function doc(): Record<string, unknown> & { files: Record<string, unknown>[] } {
  return JSON.parse(encodeSharedPage(record, [file(WHEEL), file(SDIST, { coreMetadata: false, size: null })]).json) as ReturnType<typeof doc>;
}

function decode(d: unknown, c: DecodeContext = ctx): ReturnType<typeof decodeSharedPage> {
  return decodeSharedPage(JSON.stringify(d), c);
}

function wholePageRefused(d: unknown, c: DecodeContext = ctx): string {
  try {
    decode(d, c);
  } catch (err) {
    expect(isPipcacheError(err, 'E_PAGE_INVALID')).toBe(true);
    return (err as Error).message;
  }
  throw new Error('the page was accepted');
}

describe('team page documents', () => {
  it('round-trip a listing with its validators and fetch time', () => {
    const got = decode(doc());
    expect(got.rejected).toEqual([]);
    expect(got).toMatchObject({ etag: '"abc"', lastModified: record.lastModified, fetchedAt: record.fetchedAt, upstreamUrl: record.upstreamUrl });
    expect(got.page).toMatchObject({ name: 'Demo_Pkg', lastSerial: 42 });
    expect(got.page.files).toEqual([
      {
        filename: WHEEL,
        url: `${FILE_HOST}/packages/aa/bb/${WHEEL}`,
        hashes: { sha256: SHA },
        requiresPython: '>=3.8',
        yanked: false,
        coreMetadata: { hashes: { sha256: META } },
        size: 123,
        uploadTime: '2024-12-31T10:00:00.000000Z',
      },
      expect.objectContaining({ filename: SDIST, coreMetadata: false }),
    ]);
    expect(got.page.files[1]).not.toHaveProperty('size');
  });

  it('leave out files with no sha256 (they cannot be fetched by digest) and give one digest to one listing', () => {
    const a = encodeSharedPage(record, [file(WHEEL), file(SDIST, { sha256: null })]);
    expect((JSON.parse(a.json) as { files: unknown[] }).files).toHaveLength(1);
    const later = encodeSharedPage({ ...record, fetchedAt: record.fetchedAt + 5000 }, [file(WHEEL)]);
    expect(later.listingDigest).toBe(a.listingDigest);
    expect(later.json).not.toBe(a.json);
    expect(encodeSharedPage({ ...record, etag: '"new"' }, [file(WHEEL)]).listingDigest).not.toBe(a.listingDigest);
  });

  it.each([
    ['not JSON', '{"format":1,'],
    ['an array', '[]'],
  ])('refuse a document that is %s', (_what, text) => {
    expect(() => decodeSharedPage(text, ctx)).toThrow(/team page/);
  });

  it.each<[string, (d: ReturnType<typeof doc>) => void]>([
    ['another format', (d) => void (d.format = 2)],
    ['another origin', (d) => void (d.origin = 'evil.example')],
    ['another project', (d) => void (d.project = 'requests')],
    ['a name of another project', (d) => void (d.name = 'requests')],
    ['an upstream URL off the indexes', (d) => void (d.upstreamUrl = 'https://evil.example/simple/demo-pkg/')],
    ['an ETag with a line break', (d) => void (d.etag = '"a"\r\nX-Evil: 1')],
    ['a fetch time from the far future', (d) => void (d.fetchedAt = NOW + 365 * 24 * 3600 * 1000)],
    ['a fetch time that is not a number', (d) => void (d.fetchedAt = 'yesterday')],
    ['a negative serial', (d) => void (d.lastSerial = -1)],
    ['files that are not a list', (d) => void (d.files = {} as never)],
  ])('refuse a whole document with %s', (_what, tamper) => {
    const d = doc();
    tamper(d);
    expect(wholePageRefused(d)).toMatch(/^team page: /);
  });

  it.each<[string, (f: Record<string, unknown>) => void, RegExp]>([
    ['a path in the filename', (f) => void (f.filename = '../../etc/demo_pkg-1.0-py3-none-any.whl'), /not a wheel or sdist/],
    ['a filename of another project', (f) => void (f.filename = 'requests-2.0-py3-none-any.whl'), /not a wheel or sdist/],
    ['a filename that is no archive', (f) => void (f.filename = 'demo_pkg-1.0.exe'), /not a wheel or sdist/],
    ['a control character in the filename', (f) => void (f.filename = 'demo_pkg-1.0-py3-none-any\n.whl'), /filename/],
    ['a URL on another host', (f) => void (f.url = `https://evil.example/packages/${WHEEL}`), /not on a configured index/],
    ['a plain-http URL', (f) => void (f.url = `http://files.pythonhosted.org/packages/${WHEEL}`), /not on a configured index/],
    ['a URL with credentials', (f) => void (f.url = `https://user:pw@files.pythonhosted.org/packages/${WHEEL}`), /not on a configured index/],
    ['a URL of another file', (f) => void (f.url = `${FILE_HOST}/packages/requests-2.0-py3-none-any.whl`), /ends in/],
    ['a relative URL', (f) => void (f.url = `../${WHEEL}`), /not on a configured index/],
    ['no sha256', (f) => void delete f.sha256, /sha256/],
    ['an upper-case sha256', (f) => void (f.sha256 = SHA.toUpperCase()), /sha256/],
    ['a short sha256', (f) => void (f.sha256 = 'abc'), /sha256/],
    ['a bad metadata sha256', (f) => void (f.metadata = { sha256: 'zz' }), /metadata sha256/],
    ['a negative size', (f) => void (f.size = -5), /size/],
    ['a fractional size', (f) => void (f.size = 1.5), /size/],
    ['a yanked flag that is not false or text', (f) => void (f.yanked = true), /yanked/],
    ['a huge requiresPython', (f) => void (f.requiresPython = '>='.repeat(500)), /requiresPython/],
  ])('refuse an entry with %s, keeping the others', (_what, tamper, reason) => {
    const d = doc();
    tamper(d.files[0] as Record<string, unknown>);
    const got = decode(d);
    expect(got.page.files.map((f) => f.filename)).toEqual([SDIST]);
    expect(got.rejected).toHaveLength(1);
    expect(got.rejected[0]).toMatch(reason);
  });

  it('refuse a filename listed twice (the second one)', () => {
    const d = doc();
    d.files.push({ ...d.files[0], sha256: 'c'.repeat(64) });
    const got = decode(d);
    expect(got.page.files.filter((f) => f.filename === WHEEL)).toEqual([expect.objectContaining({ hashes: { sha256: SHA } })]);
    expect(got.rejected).toEqual([expect.stringMatching(/listed twice/)]);
  });

  it('read URLs against the reader’s indexes, not the writer’s', () => {
    const narrower: DecodeContext = { ...ctx, isIndexUrl: (u) => u.hostname === 'pypi.org' };
    const got = decode(doc(), narrower);
    expect(got.page.files).toEqual([]);
    expect(got.rejected).toHaveLength(2);
  });
});
