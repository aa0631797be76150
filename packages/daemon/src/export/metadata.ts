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
 * Parses RFC 822-style core metadata headers; stops at the first blank line
 * (the description body). Continuation lines (leading space or tab) extend
 * the previous header. Throws E_BAD_REQUEST when Name or Version is missing.
 */
export function parseCoreMetadata(text: string): CoreMetadata {
  const headers: [string, string][] = [];
  for (const line of text.replace(/^\uFEFF/, '').split(/\r\n|\n|\r/)) {
    if (line.trim() === '') break;
    if (/^[ \t]/.test(line)) {
      const last = headers[headers.length - 1];
      if (last !== undefined) last[1] += '\n' + line.trim();
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue; // not a header; be lenient like email.parser
    headers.push([line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()]);
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
}

/** PKG-INFO at the top directory; requires.txt of an egg-info at the top or under src/. */
function classifySdistEntry(name: string): 'pkg-info' | 'requires' | null {
  const parts = name.replace(/^\.\//, '').split('/');
  if (parts.length === 2 && parts[1] === 'PKG-INFO') return 'pkg-info';
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

async function scanTar(path: string, gzip: boolean): Promise<SdistFinds> {
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
      const have = kind === 'pkg-info' ? finds.pkgInfo : kind === 'requires' ? finds.requiresTxt : undefined;
      if (kind === null || have !== undefined) {
        entry.resume();
        continue;
      }
      if ((entry.header.size ?? 0) > MAX_METADATA_BYTES) {
        throw new PipcacheError('E_BAD_REQUEST', `${path}: ${entry.header.name} is larger than ${MAX_METADATA_BYTES} bytes`);
      }
      const text = await readCapped(entry, `${path}: ${entry.header.name}`);
      if (kind === 'pkg-info') finds.pkgInfo = text;
      else finds.requiresTxt = text;
      if (finds.pkgInfo !== undefined && (finds.requiresTxt !== undefined || pkgInfoIsComplete(finds.pkgInfo))) {
        break; // the rest of the archive is not needed
      }
    }
  } finally {
    input.unpipe(extract);
    source.destroy();
    input.destroy();
    extract.destroy();
  }
  return finds;
}

async function scanZip(path: string): Promise<SdistFinds> {
  const finds: SdistFinds = {};
  const zip = await yauzl.openPromise(path, { lazyEntries: true, autoClose: false });
  try {
    const wanted: { kind: 'pkg-info' | 'requires'; entry: yauzl.Entry }[] = [];
    for await (const entry of zip.eachEntry()) {
      const kind = classifySdistEntry(entry.fileName);
      if (kind !== null) wanted.push({ kind, entry });
    }
    for (const { kind, entry } of wanted) {
      if ((kind === 'pkg-info' ? finds.pkgInfo : finds.requiresTxt) !== undefined) continue;
      if (entry.uncompressedSize > MAX_METADATA_BYTES) {
        throw new PipcacheError('E_BAD_REQUEST', `${path}: ${entry.fileName} is larger than ${MAX_METADATA_BYTES} bytes`);
      }
      const text = await readCapped(await zip.openReadStreamPromise(entry), `${path}: ${entry.fileName}`);
      if (kind === 'pkg-info') finds.pkgInfo = text;
      else finds.requiresTxt = text;
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
export async function readSdistMetadata(sdistPath: string): Promise<CoreMetadata | null> {
  const lower = sdistPath.toLowerCase();
  let finds: SdistFinds;
  try {
    if (lower.endsWith('.tar.gz') || lower.endsWith('.tgz')) finds = await scanTar(sdistPath, true);
    else if (lower.endsWith('.tar')) finds = await scanTar(sdistPath, false);
    else if (lower.endsWith('.zip')) finds = await scanZip(sdistPath);
    else return null;
  } catch (err) {
    throw archiveError(sdistPath, err);
  }
  if (finds.pkgInfo === undefined) return null;
  const text = finds.pkgInfo;
  const md = withPath(sdistPath, () => parseCoreMetadata(text));
  if (md.requiresDist.length === 0 && finds.requiresTxt !== undefined) {
    md.requiresDist = parseRequiresTxt(finds.requiresTxt);
  }
  return md;
}
