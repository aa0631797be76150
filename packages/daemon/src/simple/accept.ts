/**
 * PEP 691 content negotiation: pick the page format for an Accept header
 * (RFC 9110 §12.5.1 media ranges with q-values).
 */
import type { PageFormat } from './types.js';

interface MediaRange {
  type: string;
  subtype: string;
  q: number;
}

/** Media types that select each format (all lower-case). */
const CANDIDATES: ReadonlyArray<{ format: PageFormat; types: readonly string[] }> = [
  {
    format: 'json',
    types: ['application/vnd.pypi.simple.v1+json', 'application/vnd.pypi.simple.latest+json'],
  },
  {
    format: 'html-v1',
    types: ['application/vnd.pypi.simple.v1+html', 'application/vnd.pypi.simple.latest+html'],
  },
  { format: 'html', types: ['text/html'] },
];

/** Server preference among explicitly named types. */
const EXPLICIT_PREFERENCE: readonly PageFormat[] = ['json', 'html-v1', 'html'];
/** When only wildcards matched, stay compatible: plain HTML first. */
const WILDCARD_PREFERENCE: readonly PageFormat[] = ['html', 'html-v1', 'json'];

const TOKEN_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const QVALUE_RE = /^(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)$/;

/** Splits on `sep` outside double-quoted strings. */
function splitOutsideQuotes(text: string, sep: string): string[] {
  const parts: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') {
      quoted = true;
    } else if (c === sep) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

/** Parses one media range; null when malformed (the range is then ignored). */
function parseRange(text: string): MediaRange | null {
  const [mediaType = '', ...params] = splitOutsideQuotes(text, ';');
  const slash = mediaType.indexOf('/');
  if (slash < 0) return null;
  const type = mediaType.slice(0, slash).trim().toLowerCase();
  const subtype = mediaType.slice(slash + 1).trim().toLowerCase();
  if (!TOKEN_RE.test(type) || !TOKEN_RE.test(subtype)) return null;
  if (type === '*' && subtype !== '*') return null;
  let q = 1;
  for (const param of params) {
    const eq = param.indexOf('=');
    if (eq < 0) continue;
    if (param.slice(0, eq).trim().toLowerCase() !== 'q') continue;
    const value = param.slice(eq + 1).trim();
    if (!QVALUE_RE.test(value)) return null;
    q = Number(value);
    break; // parameters after q are accept-extensions
  }
  return { type, subtype, q };
}

/** 3 = exact type/subtype, 2 = type/*, 1 = * / *, 0 = no match. */
function specificity(range: MediaRange, mediaType: string): number {
  const [type, subtype] = mediaType.split('/');
  if (range.type === '*') return 1;
  if (range.type !== type) return 0;
  if (range.subtype === '*') return 2;
  return range.subtype === subtype ? 3 : 0;
}

/**
 * The format to answer with, or null when the client accepts none of them
 * (answer 406). A missing or empty header, or one with no well-formed media
 * range, means "anything" and gives plain HTML.
 */
export function negotiatePageFormat(accept: string | undefined): PageFormat | null {
  if (accept === undefined) return 'html';
  const ranges: MediaRange[] = [];
  for (const part of splitOutsideQuotes(accept, ',')) {
    if (part.trim() === '') continue;
    const range = parseRange(part);
    if (range !== null) ranges.push(range);
  }
  if (ranges.length === 0) return 'html';

  const scored: Array<{ format: PageFormat; q: number; specificity: number }> = [];
  for (const { format, types } of CANDIDATES) {
    // The most specific matching range decides the q-value of a media type;
    // a format takes the best of its media types.
    let best: { q: number; specificity: number } | undefined;
    for (const mediaType of types) {
      let spec = 0;
      let q = 0;
      for (const range of ranges) {
        const s = specificity(range, mediaType);
        if (s > spec || (s === spec && s > 0 && range.q > q)) {
          spec = s;
          q = range.q;
        }
      }
      if (spec === 0) continue;
      if (best === undefined || spec > best.specificity || (spec === best.specificity && q > best.q)) {
        best = { q, specificity: spec };
      }
    }
    if (best !== undefined && best.q > 0) scored.push({ format, ...best });
  }
  if (scored.length === 0) return null;

  scored.sort((a, b) => {
    if (a.q !== b.q) return b.q - a.q;
    if (a.specificity !== b.specificity) return b.specificity - a.specificity;
    const order = a.specificity === 3 ? EXPLICIT_PREFERENCE : WILDCARD_PREFERENCE;
    return order.indexOf(a.format) - order.indexOf(b.format);
  });
  return scored[0]?.format ?? null;
}
