import { satisfies as pep440Satisfies } from '@renovatebot/pep440';
import { pick } from './apply.js';
import type { ResolveContext } from './context.js';
import { cloneState, type Cand, type ChoicePoint, type Conflict, type State } from './state.js';

/**
 * Conflict-directed backjump: the most recent choice point among the
 * conflict's projects that still has a candidate. Returns the new state,
 * or null when there is none (the stack is then left as it was).
 */
export async function backjump(ctx: ResolveContext, stack: ChoicePoint[], c: Conflict): Promise<State | null> {
  const conflict = new Set(c.projects);
  for (let i = stack.length - 1; i >= 0; i--) {
    const cp = stack[i] as ChoicePoint;
    if (!conflict.has(cp.project)) continue;
    // When the conflicting requirement is still pending at this point, it
    // will be applied again whatever is picked: skip candidates it rejects.
    const learned = cp.project === c.edge.req.name && cp.state.queue.includes(c.edge);
    while (
      learned &&
      cp.next < cp.candidates.length &&
      !pep440Satisfies((cp.candidates[cp.next] as Cand).version, c.edge.req.specifier, { prereleases: true })
    ) {
      cp.next++;
    }
    const cand = cp.candidates[cp.next];
    if (cand !== undefined) {
      cp.next++;
      for (const p of conflict) if (p !== cp.project) cp.conflict.add(p);
      stack.length = i + 1;
      const state = cloneState(cp.state);
      await pick(ctx, state, cp.edge, cand);
      return state;
    }
    // Exhausted: whatever explains its failures, and whoever required it, is to blame.
    for (const p of cp.conflict) conflict.add(p);
    if (cp.edge.parent !== null) conflict.add(cp.edge.parent.project);
    conflict.delete(cp.project);
  }
  return null;
}
