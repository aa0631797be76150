/**
 * ProjectPage -> PEP 503 HTML (with PEP 592 / 658 / 714 data attributes) or
 * PEP 691 v1.1 JSON (with PEP 700 fields).
 */
import { compare as pep440Compare, valid as pep440Valid } from '@renovatebot/pep440';
import { parseArchiveFilename } from '@pipcache/pep';
import type { CoreMetadata, ListedFile, ProjectPage } from './types.js';

/**
 * Hash preferred in an HTML URL fragment or metadata attribute: sha256, then
 * the others pip can check, strongest first.
 */
const FRAGMENT_HASH_PREFERENCE = ['sha256', 'sha512', 'sha384', 'sha224', 'sha1', 'md5'] as const;

function preferredHash(hashes: Record<string, string>): [string, string] | undefined {
  for (const algo of FRAGMENT_HASH_PREFERENCE) {
    const digest = Object.hasOwn(hashes, algo) ? hashes[algo] : undefined;
    if (digest !== undefined) return [algo, digest];
  }
  return undefined;
}

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

function metadataAttributeValue(meta: CoreMetadata): string | undefined {
  if (meta === false) return undefined;
  const h = preferredHash(meta.hashes);
  return h === undefined ? 'true' : `${h[0]}=${h[1]}`;
}

export function renderHtml(page: ProjectPage): string {
  const name = escapeHtml(page.name);
  const out: string[] = [
    '<!DOCTYPE html>',
    '<html>',
    '<head>',
    '<meta name="pypi:repository-version" content="1.1">',
    `<title>Links for ${name}</title>`,
    '</head>',
    '<body>',
    `<h1>Links for ${name}</h1>`,
  ];
  for (const file of page.files) {
    const h = preferredHash(file.hashes);
    const href = h === undefined ? file.url : `${file.url}#${h[0]}=${h[1]}`;
    let attrs = `href="${escapeHtml(href)}"`;
    if (file.requiresPython !== undefined) {
      attrs += ` data-requires-python="${escapeHtml(file.requiresPython)}"`;
    }
    if (file.yanked !== false) attrs += ` data-yanked="${escapeHtml(file.yanked)}"`;
    const meta = metadataAttributeValue(file.coreMetadata);
    if (meta !== undefined) {
      const v = escapeHtml(meta);
      attrs += ` data-core-metadata="${v}" data-dist-info-metadata="${v}"`;
    }
    out.push(`<a ${attrs}>${escapeHtml(file.filename)}</a><br />`);
  }
  out.push('</body>', '</html>', '');
  return out.join('\n');
}

function compareVersions(a: string, b: string): number {
  const va = pep440Valid(a) !== null;
  const vb = pep440Valid(b) !== null;
  if (va && vb) {
    const c = pep440Compare(a, b);
    if (c !== 0) return c;
  } else if (va !== vb) {
    return va ? -1 : 1; // invalid versions sort last
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * PEP 700 `versions`: the page's own list plus every version found in a
 * file name, de-duplicated (exact strings) and sorted by PEP 440.
 */
function pageVersions(page: ProjectPage): string[] {
  const set = new Set<string>(page.versions ?? []);
  for (const file of page.files) {
    const parsed = parseArchiveFilename(file.filename, page.name);
    if (parsed !== null) set.add(parsed.version);
  }
  return [...set].sort(compareVersions);
}

export function renderJson(page: ProjectPage): string {
  const meta: Record<string, unknown> = { 'api-version': '1.1' };
  if (page.lastSerial !== undefined) meta['_last-serial'] = page.lastSerial;
  const files = page.files.map((file) => {
    const out: Record<string, unknown> = {
      filename: file.filename,
      url: file.url,
      hashes: { ...file.hashes },
    };
    if (file.requiresPython !== undefined) out['requires-python'] = file.requiresPython;
    // Only `core-metadata`: pip 22.3-23.1 crash on `dist-info-metadata` in JSON.
    if (file.coreMetadata !== false) {
      const hashes = file.coreMetadata.hashes;
      out['core-metadata'] = Object.keys(hashes).length === 0 ? true : { ...hashes };
    }
    out['yanked'] = file.yanked === false ? false : file.yanked === '' ? true : file.yanked;
    if (file.size !== undefined) out['size'] = file.size;
    if (file.uploadTime !== undefined) out['upload-time'] = file.uploadTime;
    return out;
  });
  return JSON.stringify({ meta, name: page.name, versions: pageVersions(page), files });
}

/** A copy of `page` whose file URLs are `map(file)`; `page` is not modified. */
export function rewriteUrls(page: ProjectPage, map: (file: ListedFile) => string): ProjectPage {
  const copy: ProjectPage = {
    name: page.name,
    files: page.files.map((file) => ({
      ...file,
      hashes: { ...file.hashes },
      coreMetadata: file.coreMetadata === false ? false : { hashes: { ...file.coreMetadata.hashes } },
      url: map(file),
    })),
  };
  if (page.versions !== undefined) copy.versions = [...page.versions];
  if (page.lastSerial !== undefined) copy.lastSerial = page.lastSerial;
  return copy;
}
