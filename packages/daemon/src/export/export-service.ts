import {
  PipcacheError,
  type ExportRequest,
  type ExportResult,
  type ExportedFile,
  type ProgressEvent,
} from '@pipcache/shared';
import { CacheSource } from './cache-source.js';
import { markerEnvFor, type MarkerEnv } from './markers.js';
import { parseRequirementLine, type Requirement } from './requirements.js';
import { resolve, type ChosenProject, type ResolveOptions } from './resolver.js';
import { readSdistBuildRequires } from './metadata.js';
import type { FileService } from '../files/file-service.js';
import { alreadyThere, writeExport, type ExportItem } from './writer.js';
import type { PageService } from '../pages/page-service.js';
import type { BlobStore } from '../store/blob-store.js';
import type { UpstreamGate } from '../upstream/gate.js';
import { recordKey, type FileRecord, type Catalog } from '../store/catalog.js';

export interface ExporterDeps {
  catalog: Catalog;
  blobs: BlobStore;
  pages: PageService;
  files: FileService;
  /** Whether the index may be asked (offline mode is the gate's to decide). */
  gate: UpstreamGate;
  indexOrigin: () => URL;
  /** Which origin a file is taken from when several list it (see UpstreamGate.originOrder). */
  originOrder: () => string[];
}

interface Picked {
  rec: FileRecord;
  item: ExportItem;
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
export function createExporter(deps: ExporterDeps): (req: ExportRequest, progress?: (p: ProgressEvent) => void) => Promise<ExportResult> {
  return async (req, progress = () => undefined) => {
    // Offline (the gate refuses the index), the export sees only what is stored.
    const online = deps.gate.refusal('page', new URL('/simple/', deps.indexOrigin())) === null;
    const picked: Picked[] = [];
    const noMetadata: { project: string; version: string }[] = [];
    const sdistOnly: { project: string; version: string }[] = [];
    const notes: string[] = [];
    if (req.all) {
      for (const rec of deps.catalog.allFiles()) if (rec.stored && rec.sha256) picked.push(await toPicked(deps, rec, rec.sha256));
    } else {
      const roots = parseAll(req.roots);
      if (roots.length === 0) throw new PipcacheError('E_USAGE', 'nothing to export: give -r FILE, SPEC or --all');
      progress({ phase: 'resolving', done: 0, total: 0, bytes: 0, totalBytes: 0 });
      const source = new CacheSource({ catalog: deps.catalog, blobs: deps.blobs, pages: deps.pages, files: deps.files, online, indexOrigin: deps.indexOrigin(), originOrder: deps.originOrder(), noDeps: req.noDeps });
      const options = {
        target: { pythonVersion: req.target.pythonVersion, platforms: req.target.platforms, implementation: 'cp' as const },
        ...(req.target.tags ? { supportedTags: new Set(req.target.tags) } : {}),
        markerEnv: markerEnv(req),
      };
      const res = await resolve(roots, source, { ...options, pre: req.pre, constraints: parseAll(req.constraints) });
      if (res.missing.length > 0) {
        const list = res.missing.map((m) => `  ${m.requirement}: ${m.reason}`).join('\n');
        throw new PipcacheError(
          online ? 'E_NOT_FOUND' : 'E_OFFLINE_MISS',
          `${online ? 'cannot export' : 'offline, and the cache lacks'} ${res.missing.length} requirement(s):\n${list}`,
          { hint: online ? 'check the names and versions' : 'go online (`pipcache offline off`) or install them once through pipcache' },
        );
      }
      noMetadata.push(...res.noMetadata);
      const chosen = [...res.chosen];
      if (!req.noDeps) {
        const build = await buildClosure(deps, source, chosen, options);
        chosen.push(...build.chosen);
        notes.push(...build.notes);
      }
      const recs: FileRecord[] = [];
      for (const c of chosen) {
        if (c.files.every((f) => f.kind === 'sdist')) sdistOnly.push({ project: c.project, version: c.version });
        for (const f of c.files) {
          const rec = deps.catalog.findFile(c.project, c.version, f.filename, deps.originOrder());
          if (rec?.sha256) recs.push(rec);
        }
      }
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
    }
    const byName = new Map(picked.map((p) => [p.item.filename, p]));
    const describe = (p: Picked, action: ExportedFile['action']): ExportedFile => ({
      filename: p.item.filename,
      project: p.rec.project,
      version: p.rec.version,
      sha256: p.item.sha256,
      size: p.item.size,
      action,
    });
    if (req.check) {
      const lacking: ExportedFile[] = [];
      for (const p of byName.values()) if (!(await alreadyThere(req.dir, p.item).catch(() => false))) lacking.push(describe(p, 'missing'));
      const bytes = [...byName.values()].reduce((a, p) => a + p.item.size, 0);
      return { dir: req.dir, files: byName.size, bytes, linked: 0, copied: 0, skipped: 0, pruned: [], written: [], lacking, noMetadata, sdistOnly, notes };
    }
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
    return {
      ...summary,
      written: summary.written.map((w) => describe(byName.get(w.filename) as Picked, w.action)),
      noMetadata,
      sdistOnly,
      notes,
    };
  };
}

/** How many rounds of "the build backend itself is an sdist" are followed. */
const MAX_BUILD_DEPTH = 3;

/**
 * pip builds sdist-only picks in an isolated environment from the same
 * find-links directory, so their PEP 518 build requirements (and those of
 * build requirements that are sdists themselves) belong in the export too.
 * Each build environment is resolved on its own, as pip does; what cannot be
 * found is reported, not fatal (`--no-build-isolation` users don't need it).
 */
async function buildClosure(
  deps: ExporterDeps,
  source: CacheSource,
  chosen: ChosenProject[],
  options: Omit<ResolveOptions, 'pre' | 'constraints'>,
): Promise<{ chosen: ChosenProject[]; notes: string[] }> {
  const have = new Set(chosen.map((c) => `${c.project}\u0000${c.version}`));
  const out: ChosenProject[] = [];
  const notes: string[] = [];
  let frontier = chosen.filter((c) => c.files.every((f) => f.kind === 'sdist'));
  for (let depth = 0; depth < MAX_BUILD_DEPTH && frontier.length > 0; depth++) {
    const next: ChosenProject[] = [];
    for (const c of frontier) {
      const sdist = c.files.find((f) => f.kind === 'sdist');
      const rec = sdist && deps.catalog.findFile(c.project, c.version, sdist.filename, deps.originOrder());
      if (!rec?.sha256) continue;
      const path = await deps.files.ensureStored({ key: recordKey(rec), metadata: false });
      const requires = await readSdistBuildRequires(path, rec.filename).catch((err: Error) => {
        notes.push(`cannot read the build requirements of ${rec.filename}: ${err.message}`);
        return null;
      });
      if (!requires || requires.length === 0) continue;
      const roots = requires.map((text, i) => parseRequirementLine(text, `${rec.filename}: build-system.requires[${i}]`));
      const res = await resolve(roots, source, { ...options, pre: false, constraints: [] });
      for (const m of res.missing) notes.push(`building ${c.project} ${c.version} needs ${m.requirement}, which cannot be exported: ${m.reason}`);
      for (const b of res.chosen) {
        const key = `${b.project}\u0000${b.version}`;
        if (have.has(key)) continue;
        have.add(key);
        out.push(b);
        if (b.files.every((f) => f.kind === 'sdist')) next.push(b);
      }
    }
    frontier = next;
  }
  return { chosen: out, notes };
}

async function toPicked(deps: ExporterDeps, rec: FileRecord, sha256: string): Promise<Picked> {
  const size = rec.size ?? (await deps.blobs.size(sha256)) ?? 0;
  return { rec, item: { filename: rec.filename, blobPath: deps.blobs.path(sha256), sha256, size } };
}
