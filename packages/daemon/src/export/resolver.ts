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
 */
import { compare as pep440Compare, explain as pep440Explain, satisfies as pep440Satisfies, valid as pep440Valid } from '@renovatebot/pep440';
import { validRange } from '@renovatebot/pep440/lib/specifier.js';
import { PipcacheError } from '@pipcache/shared';
import {
  evaluateMarker,
  parseArchiveFilename,
  parsePythonVersion,
  parseRequirementLine,
  specifierIsPinned,
  specifierNamesPrerelease,
  supportedTags,
  wheelMatches,
  type MarkerEnv,
  type Requirement,
  type Target,
} from '@pipcache/pep';

export interface CandidateFile {
  filename: string;
  kind: 'wheel' | 'sdist';
  /** false, or the yank reason ('' when none was given). */
  yanked: string | false;
  requiresPython?: string;
  /** Wheels: derived from the filename when absent. */
  tags?: { python: string[]; abi: string[]; platform: string[] };
}

export interface CandidateSource {
  /** What the cache holds (stored files only). */
  versions(project: string): Promise<{ version: string; files: CandidateFile[] }[]>;
  /** Requires-Dist of that version; null = no metadata available. */
  requiresDist(project: string, version: string): Promise<string[] | null>;
}

export interface ResolveOptions {
  target: Target;
  markerEnv: MarkerEnv;
  pre: boolean;
  constraints: Requirement[];
  /** The exact tags the target interpreter supports (e.g. from its own `sys_tags()`); derived from `target` when absent. */
  supportedTags?: Set<string>;
  /** Bound on resolver work (edges processed + backjumps); default 10,000. */
  maxSteps?: number;
}

export interface ChosenProject {
  project: string;
  version: string;
  /** Every file that can serve the target: matching wheels plus the sdist(s). */
  files: CandidateFile[];
  extras: string[];
}

export interface MissingRequirement {
  project: string;
  /** The requirement as written. */
  requirement: string;
  reason: string;
}

export interface Resolution {
  chosen: ChosenProject[];
  missing: MissingRequirement[];
  /** Chosen versions whose dependencies are unknown (no metadata): their own deps are not in `chosen`. */
  noMetadata: { project: string; version: string }[];
}

export const DEFAULT_MAX_STEPS = 10_000;

interface Parent {
  project: string;
  version: string;
}

interface Edge {
  req: Requirement;
  parent: Parent | null;
}

interface Cand {
  version: string;
  files: CandidateFile[];
}

interface Pin extends Cand {
  extras: Set<string>;
}

interface State {
  pins: Map<string, Pin>;
  /** Requirements applied to each pinned project. */
  reqs: Map<string, Edge[]>;
  queue: Edge[];
  head: number;
  missing: MissingRequirement[];
  noMetadata: Map<string, string>;
}

interface ChoicePoint {
  project: string;
  edge: Edge;
  candidates: Cand[];
  next: number;
  /** State after `edge` was taken off the queue and recorded, before the pick. */
  state: State;
  /** Projects whose picks explain why earlier candidates failed. */
  conflict: Set<string>;
}

function cloneState(s: State): State {
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

function describeEdge(e: Edge): string {
  return e.parent === null ? `'${e.req.text}' (${e.req.source})` : `'${e.req.text}' (required by ${e.parent.project} ${e.parent.version})`;
}

function whereFrom(e: Edge): string {
  return e.parent === null ? `from ${e.req.source}` : `required by ${e.parent.project} ${e.parent.version}`;
}

function isPrerelease(v: string): boolean {
  return pep440Explain(v)?.is_prerelease === true;
}

export async function resolve(roots: Requirement[], source: CandidateSource, opts: ResolveOptions): Promise<Resolution> {
  const maxSteps = opts.maxSteps ?? DEFAULT_MAX_STEPS;
  const supported = opts.supportedTags ?? supportedTags(opts.target);
  const pythonFull = parsePythonVersion(opts.target.pythonVersion).full;
  const baseEnv: MarkerEnv = { ...opts.markerEnv, extra: '' };
  const markerTrue = (r: Requirement, extra = ''): boolean =>
    r.marker === undefined || evaluateMarker(r.marker, { ...opts.markerEnv, extra });

  const constraints = new Map<string, Requirement[]>();
  for (const c of opts.constraints) {
    if (c.url !== undefined || c.specifier === '' || !markerTrue(c)) continue;
    constraints.set(c.name, [...(constraints.get(c.name) ?? []), c]);
  }

  // --- memoized source access -------------------------------------------
  const versionsMemo = new Map<string, Promise<Cand[]>>();
  const versionsOf = (project: string): Promise<Cand[]> => {
    let p = versionsMemo.get(project);
    if (p === undefined) {
      p = source.versions(project).then((list) =>
        list
          .filter((v) => pep440Valid(v.version) !== null)
          .sort((a, b) => pep440Compare(b.version, a.version) || (a.version < b.version ? -1 : a.version > b.version ? 1 : 0))
          .map((v) => ({ version: v.version, files: v.files })),
      );
      versionsMemo.set(project, p);
    }
    return p;
  };
  const depsMemo = new Map<string, Promise<string[] | null>>();
  const depsOf = (project: string, version: string): Promise<string[] | null> => {
    const key = `${project}\0${version}`;
    let p = depsMemo.get(key);
    if (p === undefined) {
      p = source.requiresDist(project, version);
      depsMemo.set(key, p);
    }
    return p;
  };

  // --- candidate selection ----------------------------------------------
  function fileProblem(f: CandidateFile, allowYanked: boolean): string | null {
    if (f.yanked !== false && !allowYanked) return f.yanked === '' ? 'yanked' : `yanked (${f.yanked})`;
    const rp = f.requiresPython?.trim();
    if (rp !== undefined && rp !== '' && validRange(rp) && !pep440Satisfies(pythonFull, rp, { prereleases: true })) {
      return `requires-python ${rp}`;
    }
    if (f.kind === 'wheel') {
      const tags = f.tags ?? parseArchiveFilename(f.filename)?.tags;
      if (tags === undefined || !wheelMatches(tags, supported)) return 'wheel not compatible with the target';
    }
    return null;
  }

  /** Candidates (best first) for `req` with its project's constraints; or why there are none. */
  async function select(req: Requirement): Promise<{ cands: Cand[]; why: string }> {
    const cons = constraints.get(req.name) ?? [];
    const combined = [req.specifier, ...cons.map((c) => c.specifier)].filter((s) => s !== '').join(',');
    const allowYanked = specifierIsPinned(combined);
    const allowPre = opts.pre || specifierNamesPrerelease(combined);
    const all = await versionsOf(req.name);
    if (all.length === 0) return { cands: [], why: 'not in the cache' };

    const accepted: Cand[] = [];
    const problems: string[] = [];
    let matchedSpec = 0;
    for (const v of all) {
      if (req.specifier !== '' && !pep440Satisfies(v.version, req.specifier, { prereleases: true })) continue;
      matchedSpec++;
      const blocking = cons.find((c) => !pep440Satisfies(v.version, c.specifier, { prereleases: true }));
      if (blocking !== undefined) {
        problems.push(`${v.version}: excluded by constraint '${blocking.text}' (${blocking.source})`);
        continue;
      }
      const files: CandidateFile[] = [];
      const fileWhy = new Set<string>();
      for (const f of v.files) {
        const problem = fileProblem(f, allowYanked);
        if (problem === null) files.push(f);
        else fileWhy.add(problem);
      }
      if (files.length === 0) {
        problems.push(`${v.version}: ${v.files.length === 0 ? 'no files' : [...fileWhy].sort().join(', ')}`);
        continue;
      }
      accepted.push({ version: v.version, files });
    }
    // pip: pre-releases only when allowed, unless nothing else is available.
    const finals = accepted.filter((c) => !isPrerelease(c.version));
    const cands = allowPre || finals.length === 0 ? accepted : finals;
    if (cands.length > 0) return { cands, why: '' };
    if (matchedSpec === 0) {
      const shown = all.slice(0, 8).map((v) => v.version);
      return { cands, why: `no cached version matches (cached: ${shown.join(', ')}${all.length > shown.length ? ', ...' : ''})` };
    }
    const shown = problems.slice(0, 6);
    return { cands, why: `no cached version can serve the target: ${shown.join('; ')}${problems.length > shown.length ? '; ...' : ''}` };
  }

  // --- state transitions --------------------------------------------------
  const parseMemo = new Map<string, Requirement | PipcacheError>();
  function parseDep(text: string, parent: Parent): Requirement | PipcacheError {
    const key = `${parent.project}\0${parent.version}\0${text}`;
    let r = parseMemo.get(key);
    if (r === undefined) {
      try {
        r = parseRequirementLine(text, `${parent.project} ${parent.version} Requires-Dist`);
      } catch (err) {
        if (!(err instanceof PipcacheError)) throw err;
        r = err;
      }
      parseMemo.set(key, r);
    }
    return r;
  }

  function addMissing(state: State, m: MissingRequirement): void {
    if (!state.missing.some((x) => x.project === m.project && x.requirement === m.requirement && x.reason === m.reason)) {
      state.missing.push(m);
    }
  }

  async function enqueueDeps(state: State, project: string, version: string, extras: string[], withBase: boolean): Promise<void> {
    const deps = await depsOf(project, version);
    if (deps === null) {
      state.noMetadata.set(project, version);
      return;
    }
    const parent = { project, version };
    for (const text of deps) {
      const req = parseDep(text, parent);
      if (req instanceof PipcacheError) {
        addMissing(state, { project, requirement: text, reason: `invalid Requires-Dist in ${project} ${version}: ${req.message}` });
        continue;
      }
      const wanted =
        req.marker === undefined
          ? withBase
          : (withBase && evaluateMarker(req.marker, baseEnv)) || extras.some((e) => markerTrue(req, e));
      if (wanted) state.queue.push({ req, parent });
    }
  }

  async function pick(state: State, edge: Edge, cand: Cand): Promise<void> {
    const extras = new Set(edge.req.extras);
    state.pins.set(edge.req.name, { ...cand, extras });
    await enqueueDeps(state, edge.req.name, cand.version, [...extras], true);
  }

  interface Conflict {
    projects: Set<string>;
    edge: Edge;
    pinned: string;
  }

  /** Applies one requirement. Returns a conflict, or null when it was applied (or reported missing). */
  async function apply(state: State, stack: ChoicePoint[], edge: Edge): Promise<Conflict | null> {
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
        await enqueueDeps(state, project, pin.version, added, false);
      }
      return null;
    }
    const { cands, why } = await select(req);
    const first = cands[0];
    if (first === undefined) {
      addMissing(state, { project, requirement: req.text, reason: `${why} (${whereFrom(edge)})` });
      return null;
    }
    state.reqs.set(project, [edge]);
    stack.push({ project, edge, candidates: cands, next: 1, state: cloneState(state), conflict: new Set() });
    await pick(state, edge, first);
    return null;
  }

  /**
   * Conflict-directed backjump: the most recent choice point among the
   * conflict's projects that still has a candidate. Returns the new state,
   * or null when there is none (the stack is then left as it was).
   */
  async function backjump(stack: ChoicePoint[], c: Conflict): Promise<State | null> {
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
        await pick(state, cp.edge, cand);
        return state;
      }
      // Exhausted: whatever explains its failures, and whoever required it, is to blame.
      for (const p of cp.conflict) conflict.add(p);
      if (cp.edge.parent !== null) conflict.add(cp.edge.parent.project);
      conflict.delete(cp.project);
    }
    return null;
  }

  // --- main loop ----------------------------------------------------------
  let state: State = { pins: new Map(), reqs: new Map(), queue: [], head: 0, missing: [], noMetadata: new Map() };
  for (const r of roots) {
    if (markerTrue(r)) state.queue.push({ req: r, parent: null });
  }
  const stack: ChoicePoint[] = [];
  let steps = 0;
  // The first unresolved conflict and the state it happened in. If
  // backtracking cannot fix it, resolution goes on from there (the best
  // picks, the clearest explanation) rather than from the last branch tried.
  let episode: { state: State; stack: ChoicePoint[]; edge: Edge; pinned: string } | null = null;
  const sameEdge = (a: Edge, b: Edge): boolean =>
    a.req.name === b.req.name && a.req.text === b.req.text && a.parent?.project === b.parent?.project;
  for (;;) {
    const edge = state.queue[state.head];
    if (edge === undefined) break;
    state.head++;
    steps++;
    const conflict = await apply(state, stack, edge);
    if (conflict === null) {
      if (episode !== null && sameEdge(edge, episode.edge)) episode = null; // resolved
      continue;
    }
    episode ??= { state: cloneState(state), stack: [...stack], edge, pinned: conflict.pinned };
    if (steps < maxSteps) {
      steps++;
      const next = await backjump(stack, conflict);
      if (next !== null) {
        state = next;
        continue;
      }
    }
    const ep = episode;
    episode = null;
    state = ep.state;
    stack.splice(0, stack.length, ...ep.stack);
    const others = (state.reqs.get(ep.edge.req.name) ?? []).map(describeEdge).join(', ');
    const gaveUp = steps >= maxSteps ? ` (gave up backtracking after ${maxSteps} steps)` : '';
    addMissing(state, {
      project: ep.edge.req.name,
      requirement: ep.edge.req.text,
      reason: `conflict (${whereFrom(ep.edge)}): ${ep.edge.req.name} ${ep.pinned} was chosen for ${others || 'other requirements'}, and no combination of cached versions satisfies all of them${gaveUp}`,
    });
  }

  const chosen: ChosenProject[] = [...state.pins.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([project, p]) => ({ project, version: p.version, files: p.files, extras: [...p.extras].sort() }));
  const missing = [...state.missing].sort(
    (a, b) => cmp(a.project, b.project) || cmp(a.requirement, b.requirement) || cmp(a.reason, b.reason),
  );
  const noMetadata = [...state.noMetadata.entries()]
    .map(([project, version]) => ({ project, version }))
    .sort((a, b) => cmp(a.project, b.project));
  return { chosen, missing, noMetadata };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
