/**
 * Reading core metadata and build requirements out of wheels and sdists
 * without unpacking them; the text is parsed by @pipcache/pep.
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
import { PipcacheError } from '@pipcache/shared';
import {
  LEGACY_BUILD_REQUIRES,
  normalizeName,
  parseBuildRequires,
  parseCoreMetadata,
  parseRequiresTxt,
  pkgInfoIsComplete,
  type CoreMetadata,
} from '@pipcache/pep';

/** Largest METADATA / PKG-INFO / requires.txt we will read. */
export const MAX_METADATA_BYTES = 10 * 1024 * 1024;

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

/**
 * The requirements pip installs to build this sdist (PEP 518): its
 * pyproject.toml `[build-system].requires`, or the legacy setuptools + wheel.
 * Null when the archive cannot be read here (.tar.bz2, .tar.xz).
 */
export async function readSdistBuildRequires(sdistPath: string, filename = sdistPath): Promise<string[] | null> {
  const finds = await scanSdist(sdistPath, filename, 'pyproject');
  if (finds === null) return null;
  if (finds.pyproject === undefined) return LEGACY_BUILD_REQUIRES;
  return parseBuildRequires(finds.pyproject, filename);
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
