import {
  defaultIndex,
  indexNameOf,
  PipcacheError,
  type ExportRequest,
  type ExportResult,
  type ExportedFile,
  type ProgressEvent,
} from '@pipcache/shared';
import type { FileService } from '../files/file-service.js';
import type { PageService } from '../pages/page-service.js';
import type { BlobStore } from '../store/blob-store.js';
import { recordKey, type FileRecord, type Catalog, type PinnedFile } from '../store/catalog.js';
import { pinnedFile, type Pins } from '../store/pins.js';
import type { UpstreamGate } from '../upstream/gate.js';
import { buildClosure } from './build-closure.js';
import { CacheSource } from './cache-source.js';
import { type MarkerEnv, markerEnvFor, parseRequirementLine, specifierIsPinned, type Requirement } from '@pipcache/pep';
import { resolve, type MissingRequirement } from './resolver.js';
import { alreadyThere, writeExport, type ExportItem } from './writer.js';

export interface ExporterDeps {
  catalog: Catalog;
  blobs: BlobStore;
  pages: PageService;
  files: FileService;
  /** Whether the index may be asked (offline mode is the gate's to decide). */
  /** Also the configured indexes: their pages are refreshed, their names reported. */
  gate: UpstreamGate;
  /** Which origin a file is taken from when several list it (see UpstreamGate.originOrder). */
  originOrder: () => string[];
  /** A written export pins its files under DIR's path. */
  pins: Pins;
}

/** What a resolution needs of a request (an export, or `pipcache pin`). */
export type ResolveRequest = Pick<ExportRequest, 'roots' | 'constraints' | 'pre' | 'noDeps' | 'target'>;

type Progress = (p: ProgressEvent) => void;

export interface Picked {
  rec: FileRecord;
  item: ExportItem;
  /** The name of the index the file came from; null for an imported file. */
  index: string | null;
  /** It was not stored and was fetched for this request. */
  fetched: boolean;
}

/** The files an export consists of, and what is reported alongside them. */
export interface Selection {
  picked: Picked[];
  noMetadata: { project: string; version: string }[];
  sdistOnly: { project: string; version: string }[];
  notes: string[];
}

function parseAll(lines: { text: string; source: string }[]): Requirement[] {
  return lines.map((l) => parseRequirementLine(l.text, l.source));
}

function markerEnv(req: ResolveRequest): MarkerEnv {
  const derived = markerEnvFor({ pythonVersion: req.target.pythonVersion, ...(req.target.platforms[0] ? { platform: req.target.platforms[0] } : {}) });
  return { ...derived, ...(req.target.markerEnv ?? {}) } as MarkerEnv;
}

/**
 * `pipcache export`: resolve the requirement closure against the cache (and,
 * online, upstream), make sure every chosen file is stored, then write or
 * check the find-links directory. Offline, anything missing fails the whole
 * export before a file is written.
 */
export function createExporter(deps: ExporterDeps): (req: ExportRequest, progress?: Progress) => Promise<ExportResult> {
  return async (req, progress = () => undefined) => {
    const selection = req.all ? await selectAll(deps) : await selectResolved(deps, req, progress);
    return req.check ? checkDir(req.dir, selection) : writeDir(deps, req, selection, progress);
  };
}

/** `--all`: every stored file. */
async function selectAll(deps: ExporterDeps): Promise<Selection> {
  const picked: Picked[] = [];
  for (const rec of deps.catalog.allFiles()) if (rec.stored && rec.sha256) picked.push(await toPicked(deps, rec, rec.sha256, false));
  return { picked, noMetadata: [], sdistOnly: [], notes: [] };
}

/**
 * The resolved closure of the roots (plus, unless --no-deps, the build
 * requirements of sdist-only picks), each file fetched when not yet stored.
 */
export async function selectResolved(deps: ExporterDeps, req: ResolveRequest, progress: Progress): Promise<Selection> {
  // Offline (the gate refuses the index), the export sees only what is stored.
  const indexes = deps.gate.indexes();
  const online = deps.gate.refusal('page', new URL(defaultIndex(indexes).root)) === null;
  // The listed indexes' pages (and the default's) are asked; implied intercepted hosts only as pip left them.
  const roots = indexes.filter((i) => !i.implicit).map((i) => new URL(i.root));
  const wanted = parseAll(req.roots);
  if (wanted.length === 0) throw new PipcacheError('E_USAGE', 'nothing to export: give -r FILE, SPEC or --all');
  progress({ phase: 'resolving', done: 0, total: 0, bytes: 0, totalBytes: 0 });
  const source = new CacheSource({ catalog: deps.catalog, blobs: deps.blobs, pages: deps.pages, files: deps.files, online, indexRoots: roots, originOrder: deps.originOrder(), noDeps: req.noDeps });
  const options = {
    target: { pythonVersion: req.target.pythonVersion, platforms: req.target.platforms, implementation: 'cp' as const },
    ...(req.target.tags ? { supportedTags: new Set(req.target.tags) } : {}),
    markerEnv: markerEnv(req),
  };
  const res = await resolve(wanted, source, { ...options, pre: req.pre, constraints: parseAll(req.constraints) });
  if (res.missing.length > 0) {
    const list = res.missing.map((m) => `  ${m.requirement}: ${m.reason}${online ? '' : lackingFiles(deps, m)}`).join('\n');
    throw new PipcacheError(
      online ? 'E_NOT_FOUND' : 'E_OFFLINE_MISS',
      `${online ? 'cannot export' : 'offline, and the cache lacks'} ${res.missing.length} requirement(s):\n${list}`,
      { hint: online ? 'check the names and versions' : 'go online (`pipcache offline off`) or install them once through pipcache' },
    );
  }
  const chosen = [...res.chosen];
  const notes: string[] = [];
  if (!req.noDeps) {
    const build = await buildClosure(deps, source, chosen, options);
    chosen.push(...build.chosen);
    notes.push(...build.notes);
  }
  const sdistOnly: { project: string; version: string }[] = [];
  const recs: FileRecord[] = [];
  for (const c of chosen) {
    if (c.files.every((f) => f.kind === 'sdist')) sdistOnly.push({ project: c.project, version: c.version });
    for (const f of c.files) {
      const rec = deps.catalog.findFile(c.project, c.version, f.filename, deps.originOrder());
      if (rec?.sha256) recs.push(rec);
    }
  }
  return { picked: await fetchMissing(deps, recs, progress), noMetadata: [...res.noMetadata], sdistOnly, notes };
}

/** Makes sure every record's file is stored (fetching, with progress, what is not). */
async function fetchMissing(deps: ExporterDeps, recs: FileRecord[], progress: Progress): Promise<Picked[]> {
  const picked: Picked[] = [];
  const toFetch = recs.filter((r) => !r.stored);
  const fetchBytes = toFetch.reduce((a, r) => a + (r.size ?? 0), 0);
  let fetched = 0;
  let fetchedBytes = 0;
  for (const rec of recs) {
    if (!rec.stored) {
      progress({ phase: 'fetching', done: fetched, total: toFetch.length, bytes: fetchedBytes, totalBytes: fetchBytes });
      await deps.files.ensureStored({ key: recordKey(rec), metadata: false });
      fetched++;
      fetchedBytes += rec.size ?? 0;
    }
    picked.push(await toPicked(deps, rec, rec.sha256 as string, !rec.stored));
  }
  return picked;
}

/**
 * Offline, for a requirement pinned to one version: the files of that
 * version the index listed but the cache does not hold (the ones to fetch
 * online), as a suffix for the error; '' when none are known.
 */
function lackingFiles(deps: ExporterDeps, m: MissingRequirement): string {
  let version: string | undefined;
  try {
    const req = parseRequirementLine(m.requirement, 'missing');
    if (specifierIsPinned(req.specifier) && !req.specifier.includes(',')) version = req.specifier.replace(/^===?/, '');
  } catch {
    return '';
  }
  const lacking = deps.catalog.projectFiles(m.project).filter((r) => r.version === version && !r.stored);
  const names = [...new Set(lacking.map((r) => r.filename))];
  return names.length > 0 ? ` (not stored: ${names.join(', ')})` : '';
}

/** The pin set entries of picked files, from their records as they are now (fetched files are stored since). */
export function pinnedFiles(deps: Pick<ExporterDeps, 'catalog'>, picked: readonly Picked[]): PinnedFile[] {
  const out: PinnedFile[] = [];
  for (const p of picked) {
    const key = recordKey(p.rec);
    const entry = pinnedFile(deps.catalog.getFile(key) ?? p.rec, key);
    if (entry) out.push(entry);
  }
  return out;
}

function byFilename(picked: Picked[]): Map<string, Picked> {
  return new Map(picked.map((p) => [p.item.filename, p]));
}

function describe(p: Picked, action: ExportedFile['action']): ExportedFile {
  return { filename: p.item.filename, project: p.rec.project, version: p.rec.version, sha256: p.item.sha256, size: p.item.size, action, index: p.index };
}

/** `--check`: which files DIR lacks (or holds with other content); nothing is written. */
async function checkDir(dir: string, selection: Selection): Promise<ExportResult> {
  const byName = byFilename(selection.picked);
  const lacking: ExportedFile[] = [];
  for (const p of byName.values()) if (!(await alreadyThere(dir, p.item).catch(() => false))) lacking.push(describe(p, 'missing'));
  const bytes = [...byName.values()].reduce((a, p) => a + p.item.size, 0);
  const { noMetadata, sdistOnly, notes } = selection;
  return { dir, files: byName.size, bytes, linked: 0, copied: 0, skipped: 0, pruned: [], written: [], lacking, noMetadata, sdistOnly, notes };
}

/** Writes the find-links directory; a damaged cached blob is replaced and placed again. */
async function writeDir(deps: ExporterDeps, req: ExportRequest, selection: Selection, progress: Progress): Promise<ExportResult> {
  const byName = byFilename(selection.picked);
  const items = [...byName.values()].map((p) => p.item);
  const totalBytes = items.reduce((a, i) => a + i.size, 0);
  const summary = await writeExport(req.dir, items, {
    prune: req.prune,
    onProgress: (done, bytes) => progress({ phase: 'writing', done, total: items.length, bytes, totalBytes }),
    replaceDamaged: (item) => {
      const { rec } = byName.get(item.filename) as Picked;
      return deps.files.replaceDamaged({ key: recordKey(rec), metadata: false });
    },
  });
  // Written and verified (each placed file was hashed): DIR's files are the project's, so the cache keeps them.
  const mode = req.pin ?? 'replace';
  if (mode !== 'none') {
    const files = pinnedFiles(deps, [...byName.values()]);
    await (mode === 'add' ? deps.pins.add(req.dir, files) : deps.pins.set(req.dir, files));
  }
  const { noMetadata, sdistOnly, notes } = selection;
  return {
    ...summary,
    written: summary.written.map((w) => describe(byName.get(w.filename) as Picked, w.action)),
    noMetadata,
    sdistOnly,
    notes,
  };
}

async function toPicked(deps: ExporterDeps, rec: FileRecord, sha256: string, fetched: boolean): Promise<Picked> {
  const size = rec.size ?? (await deps.blobs.size(sha256)) ?? 0;
  const index = rec.imported ? null : indexNameOf(deps.gate.indexes(), rec.origin);
  return { rec, item: { filename: rec.filename, blobPath: deps.blobs.path(sha256), sha256, size }, index, fetched };
}
