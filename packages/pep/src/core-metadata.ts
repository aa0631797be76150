/**
 * Core metadata (METADATA / PKG-INFO / PEP 658 `.metadata`) and setuptools'
 * `requires.txt`, parsed from text. Reading them out of archives is the
 * daemon's business.
 */
import { PipcacheError } from '@pipcache/shared';
import { normalizeName } from './names.js';

export interface CoreMetadata {
  name: string;
  version: string;
  requiresDist: string[];
  requiresPython?: string;
  /** Normalized (PEP 685). */
  providesExtra: string[];
  /** `Metadata-Version`, '' when absent. */
  metadataVersion: string;
  /** `Dynamic` fields (PEP 643), lower-cased. */
  dynamic: string[];
}

/**
 * A line that continues the headers, as Python's email.feedparser reads
 * core metadata (`headerRE`): a header name (printable ASCII, no space or
 * colon) and a colon, a continuation (leading space or tab), or an mbox
 * `From ` envelope line (skipped).
 */
const HEADER_LINE = /^(?:From |[\x21-\x39\x3b-\x7e]*:|[ \t])/;

/**
 * Parses RFC 822-style core metadata headers the way Python's email parser
 * (and so pip, packaging and importlib.metadata) does: the headers end at
 * the first EMPTY line, or at a line that is neither a header nor a
 * continuation (the body starting without a separator). A line that starts
 * with a space or tab continues the previous header even when it holds only
 * whitespace: folded values such as a multi-line `License:` contain such
 * lines, and the Requires-Dist headers after them still count.
 * Throws E_BAD_REQUEST when Name or Version is missing.
 */
export function parseCoreMetadata(text: string): CoreMetadata {
  const headers: [string, string][] = [];
  for (const line of text.replace(/^\uFEFF/, '').split(/\r\n|\n|\r/)) {
    if (line === '' || !HEADER_LINE.test(line)) break;
    if (line.startsWith('From ')) continue;
    if (line[0] === ' ' || line[0] === '\t') {
      const last = headers[headers.length - 1];
      if (last !== undefined && line.trim() !== '') last[1] += '\n' + line.trim();
      continue;
    }
    const colon = line.indexOf(':');
    if (colon === 0) continue; // a header with no name: email.parser drops it too
    headers.push([line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()]);
  }
  const all = (key: string): string[] => headers.filter(([k]) => k === key).map(([, v]) => v);
  const first = (key: string): string | undefined => all(key)[0];
  const name = first('name');
  const version = first('version');
  if (name === undefined || name === '') throw new PipcacheError('E_BAD_REQUEST', 'core metadata has no Name header');
  if (version === undefined || version === '') {
    throw new PipcacheError('E_BAD_REQUEST', `core metadata of '${name}' has no Version header`);
  }
  const md: CoreMetadata = {
    name,
    version,
    requiresDist: all('requires-dist').filter((r) => r !== ''),
    providesExtra: [...new Set(all('provides-extra').filter((e) => e !== '').map(normalizeName))],
    metadataVersion: first('metadata-version') ?? '',
    dynamic: all('dynamic').map((d) => d.toLowerCase()),
  };
  const rp = first('requires-python');
  if (rp !== undefined && rp !== '') md.requiresPython = rp;
  return md;
}

/**
 * Converts setuptools' `*.egg-info/requires.txt` into Requires-Dist strings:
 * `[extra]`, `[extra:marker]` and `[:marker]` sections become markers.
 */
export function parseRequiresTxt(text: string): string[] {
  const out: string[] = [];
  let sectionMarker: string | null = null;
  for (const raw of text.split(/\r\n|\n|\r/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const section = /^\[(.*)\]$/.exec(line);
    if (section !== null) {
      const body = (section[1] as string).trim();
      const colon = body.indexOf(':');
      const extra = (colon < 0 ? body : body.slice(0, colon)).trim();
      const marker = colon < 0 ? '' : body.slice(colon + 1).trim();
      const parts: string[] = [];
      if (marker !== '') parts.push(`(${marker})`);
      if (extra !== '') parts.push(`extra == "${extra}"`);
      sectionMarker = parts.length === 0 ? null : parts.join(' and ');
      continue;
    }
    if (sectionMarker === null) {
      out.push(line);
    } else {
      const semi = line.indexOf(';');
      out.push(semi < 0 ? `${line} ; ${sectionMarker}` : `${line.slice(0, semi).trim()} ; (${line.slice(semi + 1).trim()}) and ${sectionMarker}`);
    }
  }
  return out;
}

/**
 * Whether PKG-INFO alone tells an sdist's requirements (PEP 643): it lists
 * some, or it is 2.2+ and does not mark Requires-Dist dynamic. Text that does
 * not parse counts as complete: reading it properly reports the error.
 */
export function pkgInfoIsComplete(text: string): boolean {
  try {
    const md = parseCoreMetadata(text);
    return md.requiresDist.length > 0 || (versionAtLeast(md.metadataVersion, 2, 2) && !md.dynamic.includes('requires-dist'));
  } catch {
    return true;
  }
}

function versionAtLeast(v: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(v);
  if (m === null) return false;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a > major || (a === major && b >= minor);
}
