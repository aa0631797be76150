/**
 * PEP 691 (JSON, v1.x, with PEP 700 additions) simple project pages ->
 * ProjectPage.
 *
 * A page whose overall shape is wrong throws E_PAGE_INVALID; individual
 * files that cannot safely become an ListedFile (unsafe filename, unusable
 * URL, duplicate) are reported in `rejected` with a reason.
 */
import { PipcacheError } from '@pipcache/shared';
import { addHash, admitFile, describeUntrusted } from './parse-html.js';
import type { CoreMetadata, ListedFile, ProjectPage, Yanked } from './types.js';

type JsonObject = Record<string, unknown>;

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function invalid(pageUrl: string, what: string, cause?: unknown): PipcacheError {
  return new PipcacheError(
    'E_PAGE_INVALID',
    `invalid PEP 691 page at ${pageUrl}: ${what}`,
    cause === undefined ? {} : { cause },
  );
}

function own(obj: JsonObject, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/** Known algorithms with hex digests only; everything else is ignored. */
function cleanHashes(raw: JsonObject): Record<string, string> {
  const hashes: Record<string, string> = {};
  for (const [algo, digest] of Object.entries(raw)) addHash(hashes, algo, digest);
  return hashes;
}

export function parseJsonPage(body: string, pageUrl: string): { page: ProjectPage; rejected: string[] } {
  let root: unknown;
  try {
    root = JSON.parse(body);
  } catch (err) {
    throw invalid(pageUrl, `not JSON (${err instanceof Error ? err.message : String(err)})`, err);
  }
  if (!isObject(root)) throw invalid(pageUrl, 'top level is not an object');

  const meta = own(root, 'meta');
  if (!isObject(meta)) throw invalid(pageUrl, '"meta" is not an object');
  const apiVersion = own(meta, 'api-version');
  if (typeof apiVersion !== 'string' || !apiVersion.startsWith('1.')) {
    throw invalid(
      pageUrl,
      `unsupported "meta.api-version" ${describeUntrusted(typeof apiVersion === 'string' ? apiVersion : String(apiVersion))}`,
    );
  }

  const name = own(root, 'name');
  if (typeof name !== 'string') throw invalid(pageUrl, '"name" is not a string');

  const rawFiles = own(root, 'files');
  if (!Array.isArray(rawFiles)) throw invalid(pageUrl, '"files" is not an array');

  const page: ProjectPage = { name, files: [] };

  const versions = own(root, 'versions');
  if (versions !== undefined) {
    if (!Array.isArray(versions) || !versions.every((v): v is string => typeof v === 'string')) {
      throw invalid(pageUrl, '"versions" is not an array of strings');
    }
    page.versions = [...versions];
  }

  // `_last-serial` is a PyPI extension: used when sane, ignored otherwise.
  const serial = own(meta, '_last-serial');
  if (typeof serial === 'number' && Number.isSafeInteger(serial) && serial >= 0) page.lastSerial = serial;

  const rejected: string[] = [];
  const seen = new Set<string>();
  rawFiles.forEach((raw: unknown, i: number) => {
    const where = `files[${i}]`;
    if (!isObject(raw)) throw invalid(pageUrl, `${where} is not an object`);
    const filename = own(raw, 'filename');
    const url = own(raw, 'url');
    const hashes = own(raw, 'hashes');
    if (typeof filename !== 'string') throw invalid(pageUrl, `${where}.filename is not a string`);
    if (typeof url !== 'string') throw invalid(pageUrl, `${where}.url is not a string`);
    if (!isObject(hashes)) throw invalid(pageUrl, `${where}.hashes is not an object`);

    const requiresPython = own(raw, 'requires-python');
    if (requiresPython !== undefined && requiresPython !== null && typeof requiresPython !== 'string') {
      throw invalid(pageUrl, `${where}.requires-python is not a string or null`);
    }

    const rawYanked = own(raw, 'yanked');
    let yanked: Yanked;
    if (rawYanked === undefined || rawYanked === false) yanked = false;
    else if (rawYanked === true) yanked = '';
    else if (typeof rawYanked === 'string') yanked = rawYanked;
    else throw invalid(pageUrl, `${where}.yanked is not a boolean or string`);

    // PEP 714: `core-metadata` wins over the older `dist-info-metadata`.
    let rawMeta = own(raw, 'core-metadata');
    let metaKey = 'core-metadata';
    if (rawMeta === undefined) {
      rawMeta = own(raw, 'dist-info-metadata');
      metaKey = 'dist-info-metadata';
    }
    let coreMetadata: CoreMetadata;
    if (rawMeta === undefined || rawMeta === false) coreMetadata = false;
    else if (rawMeta === true) coreMetadata = { hashes: {} };
    else if (isObject(rawMeta)) coreMetadata = { hashes: cleanHashes(rawMeta) };
    else throw invalid(pageUrl, `${where}.${metaKey} is not a boolean or object`);

    const size = own(raw, 'size');
    if (size !== undefined && (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)) {
      throw invalid(pageUrl, `${where}.size is not a non-negative integer`);
    }
    const uploadTime = own(raw, 'upload-time');
    if (uploadTime !== undefined && uploadTime !== null && typeof uploadTime !== 'string') {
      throw invalid(pageUrl, `${where}.upload-time is not a string`);
    }

    const resolved = admitFile(filename, url, pageUrl, seen, rejected);
    if (!resolved) return;

    const file: ListedFile = {
      filename,
      url: resolved.url,
      hashes: cleanHashes(hashes),
      yanked,
      coreMetadata,
    };
    if (typeof requiresPython === 'string' && requiresPython.trim() !== '') file.requiresPython = requiresPython;
    if (typeof size === 'number') file.size = size;
    if (typeof uploadTime === 'string') file.uploadTime = uploadTime;
    page.files.push(file);
  });

  return { page, rejected };
}
