import type { MarkerEnv, Requirement, Target } from '@pipcache/pep';

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
