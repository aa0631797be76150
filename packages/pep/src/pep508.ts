/**
 * PEP 508 requirement strings (`name[extras] specifier ; marker`,
 * `name @ url ; marker`) and the PEP 440 specifier questions asked of them.
 */
import { explain as pep440Explain } from '@renovatebot/pep440';
import { parse as parseRange, validRange } from '@renovatebot/pep440/lib/specifier.js';
import { PipcacheError } from '@pipcache/shared';
import { parseMarker, type Marker } from './markers.js';
import { isValidProjectName, normalizeName } from './names.js';

export interface Requirement {
  /** PEP 503-normalized project name. */
  name: string;
  /** The name as written. */
  rawName: string;
  /** Normalized (PEP 685), sorted, unique. */
  extras: string[];
  /** Comma-separated specifier clauses without whitespace; '' = any version. */
  specifier: string;
  marker?: Marker;
  /** `name @ url` requirements only. */
  url?: string;
  /** "file:line" (or whatever the caller passed). */
  source: string;
  /** `--hash` values as written, e.g. "sha256:abc..." (lower-cased hex). */
  hashes: string[];
  /** The PEP 508 text as written (trimmed, without pip options). */
  text: string;
}

const NAME_START_RE = /^[A-Za-z0-9]/;
const NAME_RE = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?/;

function fail(source: string, why: string): PipcacheError {
  return new PipcacheError('E_BAD_REQUEST', `${source}: ${why}`);
}

/** Normalizes and validates a specifier list; returns '' for none. */
function parseSpecifier(text: string, source: string, whole: string): string {
  const raw = text.split(',').map((c) => c.replace(/\s+/g, ''));
  // packaging tolerates a trailing comma ('foo>=1,'), nothing else empty.
  if (raw.length > 1 && raw[raw.length - 1] === '') raw.pop();
  const clauses = raw.length === 1 && raw[0] === '' ? [] : raw;
  if (clauses.length === 0) return '';
  for (const clause of clauses) {
    if (clause.length === 0) throw fail(source, `empty version clause in '${whole}'`);
    if (!validRange(clause)) throw fail(source, `invalid version specifier '${clause}' in '${whole}'`);
  }
  return clauses.join(',');
}

/**
 * Parses one PEP 508 requirement: `name[extras] specifier ; marker` or
 * `name[extras] @ url ; marker` (the `;` after a URL needs whitespace before
 * it). Throws E_BAD_REQUEST "<source>: <why>" on anything else.
 */
export function parseRequirementLine(line: string, source: string): Requirement {
  const text = line.trim();
  if (text.length === 0) throw fail(source, 'empty requirement');
  if (!NAME_START_RE.test(text)) throw fail(source, `expected a project name at the start of '${text}'`);
  const nameMatch = NAME_RE.exec(text) as RegExpExecArray;
  const rawName = nameMatch[0];
  if (!isValidProjectName(rawName)) throw fail(source, `invalid project name '${rawName}'`);
  let rest = text.slice(rawName.length).trimStart();

  let extras: string[] = [];
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw fail(source, `missing ']' in '${text}'`);
    const inner = rest.slice(1, close).trim();
    if (inner.length > 0) {
      const parts = inner.split(',').map((e) => e.trim());
      for (const e of parts) {
        if (!isValidProjectName(e)) throw fail(source, `invalid extra name '${e}' in '${text}'`);
      }
      extras = [...new Set(parts.map(normalizeName))].sort();
    }
    rest = rest.slice(close + 1).trimStart();
  }

  const base = { name: normalizeName(rawName), rawName, extras, source, hashes: [] as string[], text };

  if (rest.startsWith('@')) {
    rest = rest.slice(1).trimStart();
    // The URL runs to whitespace; a marker must then start with ';'.
    const m = /^(\S+)\s*(.*)$/s.exec(rest);
    if (m === null) throw fail(source, `missing URL after '@' in '${text}'`);
    const url = m[1] as string;
    let after = (m[2] as string).trim();
    if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(url)) throw fail(source, `invalid URL '${url}' in '${text}'`);
    const req: Requirement = { ...base, specifier: '', url };
    if (after.length > 0) {
      if (!after.startsWith(';')) throw fail(source, `unexpected '${after}' after the URL (a marker needs ' ; ')`);
      after = after.slice(1).trim();
      req.marker = parseMarkerAt(after, source);
    }
    return req;
  }

  let specText = rest;
  let markerText: string | undefined;
  const semi = rest.indexOf(';');
  if (semi >= 0) {
    specText = rest.slice(0, semi);
    markerText = rest.slice(semi + 1).trim();
  }
  specText = specText.trim();
  if (specText.startsWith('(')) {
    if (!specText.endsWith(')')) throw fail(source, `missing ')' in '${text}'`);
    specText = specText.slice(1, -1);
  }
  if (specText.length > 0 && !/^[<>=!~]/.test(specText.trim())) {
    throw fail(source, `expected a version specifier, '@ URL', ';' or the end after '${rawName}' in '${text}'`);
  }
  const req: Requirement = { ...base, specifier: parseSpecifier(specText, source, text) };
  if (markerText !== undefined) req.marker = parseMarkerAt(markerText, source);
  return req;
}

function parseMarkerAt(text: string, source: string): Marker {
  if (text.length === 0) throw fail(source, "empty marker after ';'");
  try {
    return parseMarker(text);
  } catch (err) {
    if (err instanceof PipcacheError) throw fail(source, err.message);
    throw err;
  }
}

/** True when some clause of a (normalized) specifier names a pre-release. */
export function specifierNamesPrerelease(specifier: string): boolean {
  if (specifier === '') return false;
  const clauses = parseRange(specifier) ?? [];
  return clauses.some((c) => c.version !== undefined && pep440Explain(c.version)?.is_prerelease === true);
}

/** True when the specifier pins one version (`==V` without `.*`, or `===V`). */
export function specifierIsPinned(specifier: string): boolean {
  if (specifier === '') return false;
  const clauses = parseRange(specifier) ?? [];
  return clauses.some((c) => c.operator === '===' || (c.operator === '==' && !c.prefix));
}
