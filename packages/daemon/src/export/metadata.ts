/**
 * Core metadata (METADATA / PKG-INFO / PEP 658 `.metadata`) and reading it
 * out of wheels and sdists without unpacking them.
 *
 * Archives are read with yauzl (zip) and tar-stream + node:zlib (tar.gz);
 * only the metadata entry is ever held in memory, capped at
 * MAX_METADATA_BYTES. `.tar.bz2` / `.tar.xz` sdists are not readable with
 * Node's built-in codecs: readSdistMetadata returns null for them.
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import * as tarStream from 'tar-stream';
import * as yauzl from 'yauzl';
import { parse as parseToml } from 'smol-toml';
import { PipcacheError, normalizeName } from '@pipcache/shared';

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

/** Largest METADATA / PKG-INFO / requires.txt we will read. */
export const MAX_METADATA_BYTES = 10 * 1024 * 1024;

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

async function readCapped(stream: AsyncIterable<unknown> & { destroy(): unknown }, what: string): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const piece of stream) {
    const chunk = Buffer.isBuffer(piece) ? piece : Buffer.from(piece as Uint8Array);
    total += chunk.length;
    if (total > MAX_METADATA_BYTES) {
      stream.destroy();
      throw new PipcacheError('E_BAD_REQUEST', `${what} is larger than ${MAX_METADATA_BYTES} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function archiveError(path: string, err: unknown): PipcacheError {
  if (err instanceof PipcacheError) return err;
  const why = err instanceof Error ? err.message : String(err);
  const code = (err as NodeJS.ErrnoException | null)?.code === 'ENOENT' ? 'E_NOT_FOUND' : 'E_BAD_REQUEST';
  return new PipcacheError(code, `${path}: cannot read archive: ${why}`, { cause: err });
}

function basename(p: string): string {
  return p.slice(p.replace(/\\/g, '/').lastIndexOf('/') + 1);
}

/** Reads `{name}-{version}.dist-info/METADATA` out of a wheel. */
export async function readWheelMetadata(wheelPath: string): Promise<CoreMetadata> {
  let zip: yauzl.ZipFile | undefined;
  try {
    zip = await yauzl.openPromise(wheelPath, { lazyEntries: true, autoClose: false });
    const found: yauzl.Entry[] = [];
    for await (const entry of zip.eachEntry()) {
      if (/^[^/]+\.dist-info\/METADATA$/.test(entry.fileName)) found.push(entry);
    }
    if (found.length === 0) throw new PipcacheError('E_BAD_REQUEST', `${wheelPath}: wheel has no *.dist-info/METADATA`);
    let entry = found[0] as yauzl.Entry;
    if (found.length > 1) {
      // Several dist-info dirs (vendored junk): prefer the one named after the wheel.
      const project = normalizeName(basename(wheelPath).split('-')[0] ?? '');
      entry = found.find((e) => normalizeName(e.fileName.split('-')[0] ?? '') === project) ?? entry;
    }
    if (entry.uncompressedSize > MAX_METADATA_BYTES) {
      throw new PipcacheError('E_BAD_REQUEST', `${wheelPath}: ${entry.fileName} is larger than ${MAX_METADATA_BYTES} bytes`);
    }
    const stream = await zip.openReadStreamPromise(entry);
    const text = await readCapped(stream, `${wheelPath}: ${entry.fileName}`);
    return withPath(wheelPath, () => parseCoreMetadata(text));
  } catch (err) {
    throw archiveError(wheelPath, err);
  } finally {
    zip?.close();
  }
}

function withPath<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof PipcacheError) throw new PipcacheError(err.code, `${path}: ${err.message}`, { cause: err });
    throw err;
  }
}

interface SdistFinds {
  pkgInfo?: string;
  requiresTxt?: string;
  pyproject?: string;
}

type SdistEntryKind = 'pkg-info' | 'requires' | 'pyproject';

/** PKG-INFO and pyproject.toml at the top directory; requires.txt of an egg-info at the top or under src/. */
function classifySdistEntry(name: string): SdistEntryKind | null {
  const parts = name.replace(/^\.\//, '').split('/');
  if (parts.length === 2 && parts[1] === 'PKG-INFO') return 'pkg-info';
  if (parts.length === 2 && parts[1] === 'pyproject.toml') return 'pyproject';
  if (parts.length === 3 && parts[1]?.endsWith('.egg-info') && parts[2] === 'requires.txt') return 'requires';
  if (parts.length === 4 && parts[1] === 'src' && parts[2]?.endsWith('.egg-info') && parts[3] === 'requires.txt') {
    return 'requires';
  }
  return null;
}

/** PKG-INFO alone is enough when it is 2.2+ and does not mark Requires-Dist dynamic. */
function pkgInfoIsComplete(text: string): boolean {
  try {
    const md = parseCoreMetadata(text);
    return md.requiresDist.length > 0 || (versionAtLeast(md.metadataVersion, 2, 2) && !md.dynamic.includes('requires-dist'));
  } catch {
    return true; // it will fail properly later
  }
}

function versionAtLeast(v: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(v);
  if (m === null) return false;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a > major || (a === major && b >= minor);
}

const FIND_KEY: Record<SdistEntryKind, keyof SdistFinds> = { 'pkg-info': 'pkgInfo', requires: 'requiresTxt', pyproject: 'pyproject' };

/** Whether a scan for `want` can stop: it has what it needs. */
function enough(finds: SdistFinds, want: 'metadata' | 'pyproject'): boolean {
  if (want === 'pyproject') return finds.pyproject !== undefined;
  return finds.pkgInfo !== undefined && (finds.requiresTxt !== undefined || pkgInfoIsComplete(finds.pkgInfo));
}

async function scanTar(path: string, gzip: boolean, want: 'metadata' | 'pyproject'): Promise<SdistFinds> {
  const finds: SdistFinds = {};
  const extract = tarStream.extract();
  const source = createReadStream(path);
  const input: Readable = gzip ? source.pipe(createGunzip()) : source;
  const fail = (err: Error): void => {
    extract.destroy(err);
  };
  source.on('error', fail);
  if (input !== source) input.on('error', fail);
  input.pipe(extract);
  try {
    for await (const entry of extract) {
      const type = entry.header.type;
      const kind = type === 'file' || type === 'contiguous-file' ? classifySdistEntry(entry.header.name) : null;
      if (kind === null || finds[FIND_KEY[kind]] !== undefined) {
        entry.resume();
        continue;
      }
      if ((entry.header.size ?? 0) > MAX_METADATA_BYTES) {
        throw new PipcacheError('E_BAD_REQUEST', `${path}: ${entry.header.name} is larger than ${MAX_METADATA_BYTES} bytes`);
      }
      finds[FIND_KEY[kind]] = await readCapped(entry, `${path}: ${entry.header.name}`);
      if (enough(finds, want)) break; // the rest of the archive is not needed
    }
  } finally {
    input.unpipe(extract);
    source.destroy();
    input.destroy();
    extract.destroy();
  }
  return finds;
}

/** Scans an sdist whose format its file name tells (a blob path has none); null for formats Node cannot read. */
async function scanSdist(path: string, filename: string, want: 'metadata' | 'pyproject'): Promise<SdistFinds | null> {
  const lower = filename.toLowerCase();
  try {
    if (lower.endsWith('.tar.gz') || lower.endsWith('.tgz')) return await scanTar(path, true, want);
    if (lower.endsWith('.tar')) return await scanTar(path, false, want);
    if (lower.endsWith('.zip')) return await scanZip(path);
    return null;
  } catch (err) {
    throw archiveError(path, err);
  }
}

/** pip's build requirements when a project has no [build-system] table (PEP 518). */
export const LEGACY_BUILD_REQUIRES = ['setuptools>=40.8.0', 'wheel'];

/**
 * The requirements pip installs to build this sdist (PEP 518): its
 * pyproject.toml `[build-system].requires`, or the legacy setuptools + wheel.
 * Null when the archive cannot be read here (.tar.bz2, .tar.xz).
 */
export async function readSdistBuildRequires(sdistPath: string, filename = sdistPath): Promise<string[] | null> {
  const finds = await scanSdist(sdistPath, filename, 'pyproject');
  if (finds === null) return null;
  if (finds.pyproject === undefined) return LEGACY_BUILD_REQUIRES;
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(finds.pyproject) as Record<string, unknown>;
  } catch (err) {
    throw new PipcacheError('E_BAD_REQUEST', `${filename}: pyproject.toml does not parse: ${(err as Error).message}`, { cause: err });
  }
  const table = doc['build-system'] as { requires?: unknown } | undefined;
  if (table === undefined) return LEGACY_BUILD_REQUIRES;
  const requires = table.requires;
  if (!Array.isArray(requires) || !requires.every((r) => typeof r === 'string')) {
    throw new PipcacheError('E_BAD_REQUEST', `${filename}: [build-system].requires must be a list of strings`);
  }
  return requires as string[];
}

async function scanZip(path: string): Promise<SdistFinds> {
  const finds: SdistFinds = {};
  const zip = await yauzl.openPromise(path, { lazyEntries: true, autoClose: false });
  try {
    const wanted: { kind: SdistEntryKind; entry: yauzl.Entry }[] = [];
    for await (const entry of zip.eachEntry()) {
      const kind = classifySdistEntry(entry.fileName);
      if (kind !== null) wanted.push({ kind, entry });
    }
    for (const { kind, entry } of wanted) {
      if (finds[FIND_KEY[kind]] !== undefined) continue;
      if (entry.uncompressedSize > MAX_METADATA_BYTES) {
        throw new PipcacheError('E_BAD_REQUEST', `${path}: ${entry.fileName} is larger than ${MAX_METADATA_BYTES} bytes`);
      }
      finds[FIND_KEY[kind]] = await readCapped(await zip.openReadStreamPromise(entry), `${path}: ${entry.fileName}`);
    }
  } finally {
    zip.close();
  }
  return finds;
}

/**
 * Reads PKG-INFO from the top directory of an sdist (.tar.gz, .tgz, .tar,
 * .zip). Returns null when there is none, or for formats Node cannot
 * decompress (.tar.bz2, .tar.xz). When PKG-INFO is older than 2.2 (or marks
 * Requires-Dist dynamic) and lists no Requires-Dist, `*.egg-info/requires.txt`
 * is used instead, if present.
 */
export async function readSdistMetadata(sdistPath: string, filename = sdistPath): Promise<CoreMetadata | null> {
  const finds = await scanSdist(sdistPath, filename, 'metadata');
  if (finds === null || finds.pkgInfo === undefined) return null;
  const text = finds.pkgInfo;
  const md = withPath(sdistPath, () => parseCoreMetadata(text));
  if (md.requiresDist.length === 0 && finds.requiresTxt !== undefined) {
    md.requiresDist = parseRequiresTxt(finds.requiresTxt);
  }
  return md;
}
