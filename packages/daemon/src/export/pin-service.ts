import { PipcacheError, type PinRequest, type PinResult, type ProgressEvent } from '@pipcache/shared';
import { recordKey } from '../store/catalog.js';
import { pinnedFiles, selectResolved, type ExporterDeps } from './export-service.js';

/**
 * `pipcache pin`: the export's resolution (and, online, its fetching of what
 * is not stored) without writing a directory; the chosen files are pinned
 * under the request's name, replacing what that name held. Offline, a
 * closure the cache cannot serve fails before anything is pinned, naming
 * what it lacks.
 */
export function createPinner(deps: ExporterDeps): (req: PinRequest, progress?: (p: ProgressEvent) => void) => Promise<PinResult> {
  return async (req, progress = () => undefined) => {
    if (req.name.trim() === '') throw new PipcacheError('E_USAGE', 'pin: the pin set needs a name');
    if (req.roots.length === 0) throw new PipcacheError('E_USAGE', `nothing to pin for ${req.name}: no requirement applies to the target`);
    const selection = await selectResolved(deps, req, progress);
    const set = await deps.pins.set(req.name, pinnedFiles(deps, selection.picked));
    // A blob fetched above could have been evicted before it was pinned: now
    // that it is pinned, anything no longer stored is fetched once more.
    for (const p of selection.picked) {
      const rec = deps.catalog.getFile(recordKey(p.rec));
      if (rec && !rec.stored) await deps.files.ensureStored({ key: recordKey(rec), metadata: false });
    }
    return {
      set: deps.pins.summary(set.name) ?? { name: set.name, created: set.created, updated: set.updated, files: set.files.length, bytes: 0 },
      pinned: selection.picked.map((p) => ({
        filename: p.rec.filename,
        project: p.rec.project,
        version: p.rec.version,
        sha256: p.item.sha256,
        size: p.item.size,
        fetched: p.fetched,
      })),
      noMetadata: selection.noMetadata,
      notes: [...selection.notes, ...selection.sdistOnly.map((s) => `${s.project} ${s.version} is an sdist only: pip builds it at install time`)],
    };
  };
}
