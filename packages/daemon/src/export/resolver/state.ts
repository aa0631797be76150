/** The resolver's search state: pins, the requirement queue, and the choice points to backjump to. */
import type { Requirement } from '@pipcache/pep';
import type { CandidateFile, MissingRequirement } from './types.js';

export interface Parent {
  project: string;
  version: string;
}

/** One requirement to apply, and who asked for it (null: a root). */
export interface Edge {
  req: Requirement;
  parent: Parent | null;
}

export interface Cand {
  version: string;
  files: CandidateFile[];
}

export interface Pin extends Cand {
  extras: Set<string>;
}

export interface State {
  pins: Map<string, Pin>;
  /** Requirements applied to each pinned project. */
  reqs: Map<string, Edge[]>;
  queue: Edge[];
  head: number;
  missing: MissingRequirement[];
  noMetadata: Map<string, string>;
}

export interface ChoicePoint {
  project: string;
  edge: Edge;
  candidates: Cand[];
  next: number;
  /** State after `edge` was taken off the queue and recorded, before the pick. */
  state: State;
  /** Projects whose picks explain why earlier candidates failed. */
  conflict: Set<string>;
}

/** A requirement that the current pin of its project does not satisfy. */
export interface Conflict {
  projects: Set<string>;
  edge: Edge;
  pinned: string;
}

export function emptyState(): State {
  return { pins: new Map(), reqs: new Map(), queue: [], head: 0, missing: [], noMetadata: new Map() };
}

/** A copy that later picks can change without touching the original (kept at a choice point). */
export function cloneState(s: State): State {
  const pins = new Map<string, Pin>();
  for (const [k, p] of s.pins) pins.set(k, { ...p, extras: new Set(p.extras) });
  const reqs = new Map<string, Edge[]>();
  for (const [k, e] of s.reqs) reqs.set(k, [...e]);
  return {
    pins,
    reqs,
    queue: s.queue.slice(s.head),
    head: 0,
    missing: [...s.missing],
    noMetadata: new Map(s.noMetadata),
  };
}

/** Records a missing requirement once, however many paths lead to it. */
export function addMissing(state: State, m: MissingRequirement): void {
  if (!state.missing.some((x) => x.project === m.project && x.requirement === m.requirement && x.reason === m.reason)) {
    state.missing.push(m);
  }
}

export function describeEdge(e: Edge): string {
  return e.parent === null ? `'${e.req.text}' (${e.req.source})` : `'${e.req.text}' (required by ${e.parent.project} ${e.parent.version})`;
}

export function whereFrom(e: Edge): string {
  return e.parent === null ? `from ${e.req.source}` : `required by ${e.parent.project} ${e.parent.version}`;
}
