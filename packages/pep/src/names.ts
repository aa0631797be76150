/**
 * Project names, versions and distribution filenames.
 *
 * - PEP 503 name normalization, PEP 508 name syntax.
 * - PEP 440 versions (via @renovatebot/pep440; never parsed by hand here).
 * - PEP 427 / PEP 491 wheel filenames, PEP 625 and legacy sdist filenames.
 *
 * Everything here is pure and total: bad input gives `false` / `null`,
 * never an exception.
 */
import { valid as pep440Valid } from '@renovatebot/pep440';

const NAME_RE = /^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$/i;

/** PEP 503: `re.sub(r"[-_.]+", "-", name).lower()`. */
export function normalizeName(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

/** PEP 508 project name syntax (case-insensitive). */
export function isValidProjectName(name: string): boolean {
  return NAME_RE.test(name);
}

/** True when `v` is a valid PEP 440 version (exactly as written; no surrounding whitespace). */
export function isValidVersion(v: string): boolean {
  if (v.length === 0 || v !== v.trim()) return false;
  return pep440Valid(v) !== null;
}

const MAX_FILENAME_BYTES = 255;
// C0 controls, DEL, C1 controls.
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;
// Lone UTF-16 surrogates cannot be encoded as UTF-8.
const LONE_SURROGATE_RE = /\p{Cs}/u;

/**
 * True when `name` is a single path segment that is safe to use as a file
 * name on disk and in a URL path: non-empty, at most 255 bytes of UTF-8, no
 * `/`, `\`, `:`, NUL or other control characters, no lone surrogates, not
 * `.` / `..` and not starting with `.`.
 */
export function isSafeFilename(name: string): boolean {
  if (name.length === 0 || name.length > MAX_FILENAME_BYTES) return false;
  if (name.startsWith('.')) return false; // also covers '.' and '..'
  if (name.includes('/') || name.includes('\\') || name.includes(':')) return false;
  if (CONTROL_RE.test(name) || LONE_SURROGATE_RE.test(name)) return false;
  return Buffer.byteLength(name, 'utf8') <= MAX_FILENAME_BYTES;
}

export type ArchiveKind = 'wheel' | 'sdist';

export interface ParsedArchive {
  kind: ArchiveKind;
  /** PEP 503-normalized project name. */
  project: string;
  /** The version exactly as written in the filename. */
  version: string;
  filename: string;
  /** '.whl', '.tar.gz', '.zip', '.tar.bz2', '.tgz', '.tar.xz' or '.tar'. */
  extension: string;
  /** Wheels only: the optional build tag (starts with a digit). */
  buildTag?: string;
  /** Wheels only: the compatibility tags, dot-compressed sets expanded. */
  tags?: { python: string[]; abi: string[]; platform: string[] };
}

const WHEEL_EXT = '.whl';
/** Longest first, so that '.tar.gz' is never mistaken for something shorter. */
const SDIST_EXTS = ['.tar.bz2', '.tar.gz', '.tar.xz', '.tgz', '.zip', '.tar'] as const;

const BUILD_TAG_RE = /^[0-9][A-Za-z0-9_.]*$/;
const TAG_RE = /^[A-Za-z0-9_]+$/;

function expandTagSet(part: string): string[] | null {
  const tags = part.split('.');
  for (const tag of tags) {
    if (!TAG_RE.test(tag)) return null;
  }
  return tags;
}

/**
 * Parses `{name}-{ver}(-{build})?-{py}-{abi}-{plat}.whl`. Returns null for
 * anything that is not a well-formed wheel filename (including unsafe names
 * and invalid PEP 440 versions).
 */
export function parseWheelFilename(filename: string): ParsedArchive | null {
  if (!isSafeFilename(filename) || !filename.endsWith(WHEEL_EXT)) return null;
  const parts = filename.slice(0, -WHEEL_EXT.length).split('-');
  if (parts.length !== 5 && parts.length !== 6) return null;
  const [name, version] = parts;
  if (name === undefined || version === undefined) return null;
  if (!isValidProjectName(name) || !isValidVersion(version)) return null;
  let buildTag: string | undefined;
  if (parts.length === 6) {
    buildTag = parts[2];
    if (buildTag === undefined || !BUILD_TAG_RE.test(buildTag)) return null;
  }
  const [py, abi, plat] = parts.slice(-3);
  if (py === undefined || abi === undefined || plat === undefined) return null;
  const python = expandTagSet(py);
  const abiTags = expandTagSet(abi);
  const platform = expandTagSet(plat);
  if (python === null || abiTags === null || platform === null) return null;
  const parsed: ParsedArchive = {
    kind: 'wheel',
    project: normalizeName(name),
    version,
    filename,
    extension: WHEEL_EXT,
    tags: { python, abi: abiTags, platform },
  };
  if (buildTag !== undefined) parsed.buildTag = buildTag;
  return parsed;
}

function sdistExtension(filename: string): string | null {
  for (const ext of SDIST_EXTS) {
    if (filename.endsWith(ext)) return ext;
  }
  return null;
}

/**
 * Parses an sdist filename `{name}-{version}{ext}` (PEP 625 or legacy).
 *
 * With `project` known, the name/version split is at the first `-` whose
 * prefix normalizes to the project's normalized name (so legacy
 * `foo-bar-1.0.tar.gz` works for project `foo-bar`); a file whose prefix
 * never matches gives null. Without `project`, the split is at the last `-`
 * and both halves must be a valid project name and PEP 440 version.
 */
export function parseSdistFilename(filename: string, project?: string): ParsedArchive | null {
  if (!isSafeFilename(filename)) return null;
  const extension = sdistExtension(filename);
  if (extension === null) return null;
  const stem = filename.slice(0, -extension.length);

  let name: string | undefined;
  let version: string | undefined;
  if (project !== undefined) {
    const want = normalizeName(project);
    if (!isValidProjectName(project)) return null;
    for (let i = stem.indexOf('-'); i > 0; i = stem.indexOf('-', i + 1)) {
      if (normalizeName(stem.slice(0, i)) === want) {
        name = stem.slice(0, i);
        version = stem.slice(i + 1);
        break;
      }
    }
    if (name === undefined || version === undefined) return null;
  } else {
    const i = stem.lastIndexOf('-');
    if (i <= 0) return null;
    name = stem.slice(0, i);
    version = stem.slice(i + 1);
  }
  if (!isValidProjectName(name) || !isValidVersion(version)) return null;
  return { kind: 'sdist', project: normalizeName(name), version, filename, extension };
}

/**
 * Dispatches on the extension: `.whl` -> wheel, sdist archive extensions ->
 * sdist, anything else (`.egg`, `.exe`, `.msi`, `.rpm`, `.metadata`, ...) ->
 * null. Unsafe filenames -> null.
 */
export function parseArchiveFilename(filename: string, project?: string): ParsedArchive | null {
  if (!isSafeFilename(filename)) return null;
  if (filename.endsWith(WHEEL_EXT)) return parseWheelFilename(filename);
  if (sdistExtension(filename) !== null) return parseSdistFilename(filename, project);
  return null;
}
