import type { State } from './state.js';
import type { ChosenProject, Resolution } from './types.js';

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The final state as a Resolution, every list sorted so the same cache gives the same answer. */
export function finish(state: State): Resolution {
  const chosen: ChosenProject[] = [...state.pins.entries()]
    .sort(([a], [b]) => cmp(a, b))
    .map(([project, p]) => ({ project, version: p.version, files: p.files, extras: [...p.extras].sort() }));
  const missing = [...state.missing].sort(
    (a, b) => cmp(a.project, b.project) || cmp(a.requirement, b.requirement) || cmp(a.reason, b.reason),
  );
  const noMetadata = [...state.noMetadata.entries()]
    .map(([project, version]) => ({ project, version }))
    .sort((a, b) => cmp(a.project, b.project));
  return { chosen, missing, noMetadata };
}
