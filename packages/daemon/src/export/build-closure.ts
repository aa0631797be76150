import type { FileService } from '../files/file-service.js';
import { recordKey, type Catalog } from '../store/catalog.js';
import type { CacheSource } from './cache-source.js';
import { readSdistBuildRequires } from '../archive/read-metadata.js';
import { parseRequirementLine } from '@pipcache/pep';
import { resolve, type ChosenProject, type ResolveOptions } from './resolver.js';

export interface BuildClosureDeps {
  catalog: Catalog;
  files: FileService;
  /** Which origin a file is taken from when several list it. */
  originOrder: () => string[];
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
export async function buildClosure(
  deps: BuildClosureDeps,
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
