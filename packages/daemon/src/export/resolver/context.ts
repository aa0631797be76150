/**
 * What one resolution run shares across its steps: the options it was given,
 * the target's tags and Python version, the constraints by project, and
 * memoized access to the source (each project's versions and each version's
 * dependencies are asked for once per run, however often backjumping
 * revisits them).
 */
import { compare as pep440Compare, valid as pep440Valid } from '@renovatebot/pep440';
import { PipcacheError } from '@pipcache/shared';
import { evaluateMarker, type MarkerEnv, parsePythonVersion, parseRequirementLine, type Requirement, supportedTags } from '@pipcache/pep';
import type { Cand, Parent } from './state.js';
import { DEFAULT_MAX_STEPS, type CandidateSource, type ResolveOptions } from './types.js';

export interface ResolveContext {
  opts: ResolveOptions;
  maxSteps: number;
  /** The tags a wheel must match. */
  supported: Set<string>;
  /** The target's full Python version, for Requires-Python. */
  pythonFull: string;
  /** The marker environment with no extra (dependencies every install needs). */
  baseEnv: MarkerEnv;
  /** Constraints that apply to the target, by project. */
  constraints: Map<string, Requirement[]>;
  /** Whether `req` applies to the target (with `extra` when it came in through one). */
  markerTrue(req: Requirement, extra?: string): boolean;
  /** The project's valid versions, newest first. */
  versionsOf(project: string): Promise<Cand[]>;
  /** Requires-Dist of a version; null = no metadata. */
  depsOf(project: string, version: string): Promise<string[] | null>;
  /** One Requires-Dist line, parsed; an unparsable line is returned as its error. */
  parseDep(text: string, parent: Parent): Requirement | PipcacheError;
}

export function createContext(source: CandidateSource, opts: ResolveOptions): ResolveContext {
  const markerTrue = (r: Requirement, extra = ''): boolean =>
    r.marker === undefined || evaluateMarker(r.marker, { ...opts.markerEnv, extra });
  return {
    opts,
    maxSteps: opts.maxSteps ?? DEFAULT_MAX_STEPS,
    supported: opts.supportedTags ?? supportedTags(opts.target),
    pythonFull: parsePythonVersion(opts.target.pythonVersion).full,
    baseEnv: { ...opts.markerEnv, extra: '' },
    constraints: collectConstraints(opts.constraints, markerTrue),
    markerTrue,
    versionsOf: memoizedVersions(source),
    depsOf: memoizedDeps(source),
    parseDep: memoizedParseDep(),
  };
}

/** Constraints by project; URL, empty and not-for-this-target constraints restrict nothing. */
function collectConstraints(list: Requirement[], markerTrue: (r: Requirement) => boolean): Map<string, Requirement[]> {
  const constraints = new Map<string, Requirement[]>();
  for (const c of list) {
    if (c.url !== undefined || c.specifier === '' || !markerTrue(c)) continue;
    constraints.set(c.name, [...(constraints.get(c.name) ?? []), c]);
  }
  return constraints;
}

function memoizedVersions(source: CandidateSource): (project: string) => Promise<Cand[]> {
  const memo = new Map<string, Promise<Cand[]>>();
  return (project) => {
    let p = memo.get(project);
    if (p === undefined) {
      p = source.versions(project).then((list) =>
        list
          .filter((v) => pep440Valid(v.version) !== null)
          .sort((a, b) => pep440Compare(b.version, a.version) || (a.version < b.version ? -1 : a.version > b.version ? 1 : 0))
          .map((v) => ({ version: v.version, files: v.files })),
      );
      memo.set(project, p);
    }
    return p;
  };
}

function memoizedDeps(source: CandidateSource): (project: string, version: string) => Promise<string[] | null> {
  const memo = new Map<string, Promise<string[] | null>>();
  return (project, version) => {
    const key = `${project}\0${version}`;
    let p = memo.get(key);
    if (p === undefined) {
      p = source.requiresDist(project, version);
      memo.set(key, p);
    }
    return p;
  };
}

function memoizedParseDep(): (text: string, parent: Parent) => Requirement | PipcacheError {
  const memo = new Map<string, Requirement | PipcacheError>();
  return (text, parent) => {
    const key = `${parent.project}\0${parent.version}\0${text}`;
    let r = memo.get(key);
    if (r === undefined) {
      try {
        r = parseRequirementLine(text, `${parent.project} ${parent.version} Requires-Dist`);
      } catch (err) {
        if (!(err instanceof PipcacheError)) throw err;
        r = err;
      }
      memo.set(key, r);
    }
    return r;
  };
}
