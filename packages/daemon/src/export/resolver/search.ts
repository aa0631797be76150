/**
 * The search loop: requirements are applied in queue order (breadth first);
 * a conflict backjumps to a choice point that can explain it, within the
 * step budget; a conflict no backjump fixes is reported and resolution goes
 * on without it.
 */
import type { Requirement } from '@pipcache/pep';
import { applyRequirement } from './apply.js';
import { backjump } from './backjump.js';
import type { ResolveContext } from './context.js';
import { addMissing, cloneState, describeEdge, emptyState, whereFrom, type ChoicePoint, type Edge, type State } from './state.js';

/**
 * The first unresolved conflict and the state it happened in. If
 * backtracking cannot fix it, resolution goes on from there (the best
 * picks, the clearest explanation) rather than from the last branch tried.
 */
interface Episode {
  state: State;
  stack: ChoicePoint[];
  edge: Edge;
  pinned: string;
}

/** The starting state: the roots whose markers hold for the target, in the order given. */
export function seedRoots(ctx: ResolveContext, roots: Requirement[]): State {
  const state = emptyState();
  for (const r of roots) {
    if (ctx.markerTrue(r)) state.queue.push({ req: r, parent: null });
  }
  return state;
}

function sameEdge(a: Edge, b: Edge): boolean {
  return a.req.name === b.req.name && a.req.text === b.req.text && a.parent?.project === b.parent?.project;
}

/** Runs the queue dry and returns the final state. */
export async function search(ctx: ResolveContext, initial: State): Promise<State> {
  let state = initial;
  const stack: ChoicePoint[] = [];
  let steps = 0;
  let episode: Episode | null = null;
  for (;;) {
    const edge = state.queue[state.head];
    if (edge === undefined) break;
    state.head++;
    steps++;
    const conflict = await applyRequirement(ctx, state, stack, edge);
    if (conflict === null) {
      if (episode !== null && sameEdge(edge, episode.edge)) episode = null; // resolved
      continue;
    }
    episode ??= { state: cloneState(state), stack: [...stack], edge, pinned: conflict.pinned };
    if (steps < ctx.maxSteps) {
      steps++;
      const next = await backjump(ctx, stack, conflict);
      if (next !== null) {
        state = next;
        continue;
      }
    }
    state = giveUp(ctx, episode, stack, steps >= ctx.maxSteps);
    episode = null;
  }
  return state;
}

/**
 * Backtracking cannot fix the episode's conflict: go back to where it began
 * (restoring its stack) and report the conflicting requirement as missing.
 */
function giveUp(ctx: ResolveContext, episode: Episode, stack: ChoicePoint[], outOfSteps: boolean): State {
  const state = episode.state;
  stack.splice(0, stack.length, ...episode.stack);
  const { edge, pinned } = episode;
  const others = (state.reqs.get(edge.req.name) ?? []).map(describeEdge).join(', ');
  const gaveUp = outOfSteps ? ` (gave up backtracking after ${ctx.maxSteps} steps)` : '';
  addMissing(state, {
    project: edge.req.name,
    requirement: edge.req.text,
    reason: `conflict (${whereFrom(edge)}): ${edge.req.name} ${pinned} was chosen for ${others || 'other requirements'}, and no combination of cached versions satisfies all of them${gaveUp}`,
  });
  return state;
}
