/**
 * Applying one requirement to the search state: it either narrows nothing
 * (already satisfied by a pin, perhaps adding extras), opens a choice point
 * and pins its best candidate, goes to `missing`, or conflicts with a pin.
 */
import { satisfies as pep440Satisfies } from '@renovatebot/pep440';
import { PipcacheError } from '@pipcache/shared';
import { evaluateMarker } from '@pipcache/pep';
import { selectCandidates } from './candidates.js';
import type { ResolveContext } from './context.js';
import { addMissing, cloneState, whereFrom, type Cand, type ChoicePoint, type Conflict, type Edge, type State } from './state.js';

/**
 * Queues the dependencies of a pinned version: the unconditional ones when
 * `withBase` (a fresh pin), and those its `extras` bring in.
 */
async function enqueueDeps(ctx: ResolveContext, state: State, project: string, version: string, extras: string[], withBase: boolean): Promise<void> {
  const deps = await ctx.depsOf(project, version);
  if (deps === null) {
    state.noMetadata.set(project, version);
    return;
  }
  const parent = { project, version };
  for (const text of deps) {
    const req = ctx.parseDep(text, parent);
    if (req instanceof PipcacheError) {
      addMissing(state, { project, requirement: text, reason: `invalid Requires-Dist in ${project} ${version}: ${req.message}` });
      continue;
    }
    const wanted =
      req.marker === undefined
        ? withBase
        : (withBase && evaluateMarker(req.marker, ctx.baseEnv)) || extras.some((e) => ctx.markerTrue(req, e));
    if (wanted) state.queue.push({ req, parent });
  }
}

/** Pins `cand` for the edge's project and queues what it depends on. */
export async function pick(ctx: ResolveContext, state: State, edge: Edge, cand: Cand): Promise<void> {
  const extras = new Set(edge.req.extras);
  state.pins.set(edge.req.name, { ...cand, extras });
  await enqueueDeps(ctx, state, edge.req.name, cand.version, [...extras], true);
}

/** Applies one requirement. Returns a conflict, or null when it was applied (or reported missing). */
export async function applyRequirement(ctx: ResolveContext, state: State, stack: ChoicePoint[], edge: Edge): Promise<Conflict | null> {
  const req = edge.req;
  const project = req.name;
  if (req.url !== undefined) {
    addMissing(state, {
      project,
      requirement: req.text,
      reason: `direct URL requirement (${whereFrom(edge)}): pip fetches ${req.url} itself, not from the find-links directory; pin a version instead`,
    });
    return null;
  }
  const pin = state.pins.get(project);
  if (pin !== undefined) {
    if (req.specifier !== '' && !pep440Satisfies(pin.version, req.specifier, { prereleases: true })) {
      const projects = new Set<string>([project]);
      if (edge.parent !== null) projects.add(edge.parent.project);
      for (const e of state.reqs.get(project) ?? []) if (e.parent !== null) projects.add(e.parent.project);
      return { projects, edge, pinned: pin.version };
    }
    state.reqs.get(project)?.push(edge);
    const added = req.extras.filter((e) => !pin.extras.has(e));
    if (added.length > 0) {
      for (const e of added) pin.extras.add(e);
      await enqueueDeps(ctx, state, project, pin.version, added, false);
    }
    return null;
  }
  const { cands, why } = await selectCandidates(ctx, req);
  const first = cands[0];
  if (first === undefined) {
    addMissing(state, { project, requirement: req.text, reason: `${why} (${whereFrom(edge)})` });
    return null;
  }
  state.reqs.set(project, [edge]);
  stack.push({ project, edge, candidates: cands, next: 1, state: cloneState(state), conflict: new Set() });
  await pick(ctx, state, edge, first);
  return null;
}
