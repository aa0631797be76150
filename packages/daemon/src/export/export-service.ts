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
import { recordKey, type FileRecord, type Catalog } from '../store/catalog.js';
import type { UpstreamGate } from '../upstream/gate.js';
import { buildClosure } from './build-closure.js';
import { CacheSource } from './cache-source.js';
import { type MarkerEnv, markerEnvFor, parseRequirementLine, type Requirement } from '@pipcache/pep';
import { resolve } from './resolver.js';
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
}

type Progress = (p: ProgressEvent) => void;

interface Picked {
  rec: FileRecord;
  item: ExportItem;
  /** The name of the index the file came from; null for an imported file. */
  index: string | null;
}

/** The files an export consists of, and what is reported alongside them. */
interface Selection {
  picked: Picked[];
  noMetadata: { project: string; version: string }[];
  sdistOnly: { project: string; version: string }[];
  notes: string[];
}

function parseAll(lines: { text: string; source: string }[]): Requirement[] {
  return lines.map((l) => parseRequirementLine(l.text, l.source));
}

function markerEnv(req: ExportRequest): MarkerEnv {
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
  for (const rec of deps.catalog.allFiles()) if (rec.stored && rec.sha256) picked.push(await toPicked(deps, rec, rec.sha256));
  return { picked, noMetadata: [], sdistOnly: [], notes: [] };
}

/**
 * The resolved closure of the roots (plus, unless --no-deps, the build
 * requirements of sdist-only picks), each file fetched when not yet stored.
 */
async function selectResolved(deps: ExporterDeps, req: ExportRequest, progress: Progress): Promise<Selection> {
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
    const list = res.missing.map((m) => `  ${m.requirement}: ${m.reason}`).join('\n');
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
    picked.push(await toPicked(deps, rec, rec.sha256 as string));
  }
  return picked;
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
  const { noMetadata, sdistOnly, notes } = selection;
  return {
    ...summary,
    written: summary.written.map((w) => describe(byName.get(w.filename) as Picked, w.action)),
    noMetadata,
    sdistOnly,
    notes,
  };
}

async function toPicked(deps: ExporterDeps, rec: FileRecord, sha256: string): Promise<Picked> {
  const size = rec.size ?? (await deps.blobs.size(sha256)) ?? 0;
  const index = rec.imported ? null : indexNameOf(deps.gate.indexes(), rec.origin);
  return { rec, item: { filename: rec.filename, blobPath: deps.blobs.path(sha256), sha256, size }, index };
}
