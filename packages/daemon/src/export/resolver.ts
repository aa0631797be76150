/**
 * Chooses the closure of cached distributions that `pip install --no-index
 * --find-links DIR` needs for a target interpreter.
 *
 * A breadth-first resolver with conflict-directed backjumping: every pick is
 * a choice point; when a requirement conflicts with an existing pick, the
 * search jumps back to the most recent pick that could have caused the
 * conflict (the conflicting project, the requirement's parent, or whoever
 * required the conflicting project) and tries its next lower version. Work
 * is bounded by `maxSteps`; after that, conflicts are reported in `missing`
 * instead of being backtracked.
 *
 * Requirements that nothing in the cache can satisfy are not conflicts: they
 * go to `missing` (so the caller can fetch them) and resolution goes on.
 *
 * The steps live in resolver/: context (options, constraints, memoized
 * source), candidates (what may serve a requirement), apply (one requirement
 * against the state), backjump, search (the loop), report (the result).
 */
import type { Requirement } from '@pipcache/pep';
import { createContext } from './resolver/context.js';
import { finish } from './resolver/report.js';
import { search, seedRoots } from './resolver/search.js';
import type { CandidateSource, Resolution, ResolveOptions } from './resolver/types.js';

export {
  DEFAULT_MAX_STEPS,
  type CandidateFile,
  type CandidateSource,
  type ChosenProject,
  type MissingRequirement,
  type Resolution,
  type ResolveOptions,
} from './resolver/types.js';

export async function resolve(roots: Requirement[], source: CandidateSource, opts: ResolveOptions): Promise<Resolution> {
  const ctx = createContext(source, opts);
  const state = await search(ctx, seedRoots(ctx, roots));
  return finish(state);
}
