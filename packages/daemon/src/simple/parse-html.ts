/**
 * PEP 503 (HTML) simple project pages -> ProjectPage.
 *
 * Upstream pages are untrusted: every anchor is checked, and anchors that
 * cannot safely become an ListedFile are reported in `rejected` (with a
 * reason) instead of being dropped silently.
 */
import { Parser } from 'htmlparser2';
import { PipcacheError } from '@pipcache/shared';
import { isSafeFilename } from '@pipcache/pep';
import type { CoreMetadata, ListedFile, ProjectPage } from './types.js';

/**
 * Hash algorithms accepted from upstream (hashlib names with fixed-size
 * digests). Anything else, e.g. `#egg=` fragments, is not a hash.
 */
export const KNOWN_HASH_ALGORITHMS: ReadonlySet<string> = new Set([
  'md5',
  'sha1',
  'sha224',
  'sha256',
  'sha384',
  'sha512',
  'sha3_224',
  'sha3_256',
  'sha3_384',
  'sha3_512',
  'blake2b',
  'blake2s',
]);

const HEX_RE = /^[0-9a-fA-F]+$/;

/**
 * Adds `algo -> digest` to `into` when the algorithm is known and the digest
 * is hex; both are lower-cased. Returns whether it was accepted.
 */
export function addHash(into: Record<string, string>, algo: string, digest: unknown): boolean {
  const name = algo.toLowerCase();
  if (!KNOWN_HASH_ALGORITHMS.has(name)) return false;
  if (typeof digest !== 'string' || !HEX_RE.test(digest)) return false;
  into[name] = digest.toLowerCase();
  return true;
}

/** Shortens untrusted text for use inside a rejection reason. */
export function describeUntrusted(text: string): string {
  const max = 120;
  const shown = text.length > max ? `${text.slice(0, max)}…(${text.length} chars)` : text;
  return JSON.stringify(shown);
}

/**
 * Resolves `href` against `base`, requires http(s), splits off the fragment.
 * Returns the reason as a string when the URL is unusable.
 */
/**
 * The checks every listed file passes in both page formats: a safe file
 * name, an http(s) URL, no second entry of the same name. Returns the
 * resolved URL, or null after recording why the entry is rejected.
 */
export function admitFile(
  filename: string,
  href: string | undefined,
  base: string,
  seen: Set<string>,
  rejected: string[],
): { url: string; fragment: string } | null {
  const reject = (why: string): null => {
    rejected.push(`${describeUntrusted(filename)}: ${why}`);
    return null;
  };
  if (!isSafeFilename(filename)) return reject('unsafe or empty filename');
  if (href === undefined) return reject('anchor has no href');
  const resolved = resolveFileUrl(href, base);
  if (typeof resolved === 'string') return reject(resolved);
  if (seen.has(filename)) return reject('duplicate filename');
  seen.add(filename);
  return resolved;
}

export function resolveFileUrl(href: string, base: string): { url: string; fragment: string } | string {
  let url: URL;
  try {
    url = new URL(href, base);
  } catch {
    return `invalid URL ${describeUntrusted(href)}`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return `URL scheme ${describeUntrusted(url.protocol)} is not http(s)`;
  }
  const fragment = url.hash.startsWith('#') ? url.hash.slice(1) : url.hash;
  url.hash = '';
  return { url: url.href, fragment };
}

/** Hashes from a PEP 503 URL fragment such as `sha256=abc...` (also `a=..&b=..`). */
function hashesFromFragment(fragment: string): Record<string, string> {
  const hashes: Record<string, string> = {};
  if (fragment === '') return hashes;
  for (const part of fragment.split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    addHash(hashes, part.slice(0, eq), part.slice(eq + 1));
  }
  return hashes;
}

/**
 * PEP 658 / PEP 714 attribute value: `true` -> available without hash,
 * `algo=hex` -> available with that hash (a non-hex or unknown hash is
 * ignored, the metadata is still available), absent, empty or `false` ->
 * not available.
 */
function metadataFromAttribute(value: string | undefined): CoreMetadata {
  if (value === undefined) return false;
  const v = value.trim();
  if (v === '' || v.toLowerCase() === 'false') return false;
  if (v.toLowerCase() === 'true') return { hashes: {} };
  const eq = v.indexOf('=');
  if (eq <= 0) return false;
  const hashes: Record<string, string> = {};
  addHash(hashes, v.slice(0, eq), v.slice(eq + 1));
  return { hashes };
}

function attr(attribs: Record<string, string>, name: string): string | undefined {
  return Object.hasOwn(attribs, name) ? attribs[name] : undefined;
}

interface RawAnchor {
  attribs: Record<string, string>;
  text: string;
}

export function parseHtmlPage(
  body: string,
  pageUrl: string,
  projectName: string,
): { page: ProjectPage; rejected: string[] } {
  const anchors: RawAnchor[] = [];
  // Mutated from the parser callbacks (an object, so TypeScript does not
  // narrow the fields to their initial values).
  const state: { current: RawAnchor | null; baseHref?: string; repositoryVersion?: string } = { current: null };

  const parser = new Parser(
    {
      onopentag(name, attribs) {
        if (name === 'a') {
          // An <a> cannot nest inside another: the new one ends the old one.
          if (state.current !== null) anchors.push(state.current);
          state.current = { attribs, text: '' };
        } else if (name === 'base') {
          const href = attr(attribs, 'href');
          if (state.baseHref === undefined && href !== undefined) state.baseHref = href;
        } else if (name === 'meta') {
          if (state.repositoryVersion === undefined && attr(attribs, 'name') === 'pypi:repository-version') {
            state.repositoryVersion = attr(attribs, 'content');
          }
        }
      },
      ontext(text) {
        if (state.current !== null) state.current.text += text;
      },
      onclosetag(name) {
        if (name === 'a' && state.current !== null) {
          anchors.push(state.current);
          state.current = null;
        }
      },
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );
  parser.write(body);
  parser.end();
  if (state.current !== null) anchors.push(state.current);
  const { baseHref, repositoryVersion } = state;

  // PEP 629: clients must refuse a major version they do not understand.
  if (repositoryVersion !== undefined) {
    const m = /^\s*(\d+)\.\d+\s*$/.exec(repositoryVersion);
    if (m?.[1] !== undefined && Number(m[1]) !== 1) {
      throw new PipcacheError(
        'E_PAGE_INVALID',
        `unsupported simple API repository version ${describeUntrusted(repositoryVersion)} at ${pageUrl}`,
      );
    }
  }

  // The document's base URL applies to every link, wherever <base> appears.
  let base = pageUrl;
  if (baseHref !== undefined) {
    try {
      base = new URL(baseHref, pageUrl).href;
    } catch {
      // An unusable <base href> is ignored, as browsers and pip do.
    }
  }

  const files: ListedFile[] = [];
  const rejected: string[] = [];
  const seen = new Set<string>();
  for (const { attribs, text } of anchors) {
    const filename = text.trim();
    const resolved = admitFile(filename, attr(attribs, 'href'), base, seen, rejected);
    if (!resolved) continue;

    const file: ListedFile = {
      filename,
      url: resolved.url,
      hashes: hashesFromFragment(resolved.fragment),
      yanked: attr(attribs, 'data-yanked') ?? false,
      coreMetadata: metadataFromAttribute(
        attr(attribs, 'data-core-metadata') ?? attr(attribs, 'data-dist-info-metadata'),
      ),
    };
    const requiresPython = attr(attribs, 'data-requires-python');
    if (requiresPython !== undefined && requiresPython.trim() !== '') file.requiresPython = requiresPython;
    files.push(file);
  }

  return { page: { name: projectName, files }, rejected };
}
