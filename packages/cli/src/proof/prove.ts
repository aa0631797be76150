/**
 * The proof that an export installs: a dry-run install from the find-links
 * directory alone, in a throwaway venv of the target interpreter. A static
 * list of build requirements is not enough (setuptools before 70.1 asks
 * for `wheel` from `get_requires_for_build_wheel`; other backends ask for
 * what they like), so whatever pip reports missing is added through the
 * cache and the dry run repeated, a bounded number of rounds.
 */
import { isPipcacheError, PipcacheError, type ExportedFile } from '@pipcache/shared';
import type { DryRunResult } from './dry-run.js';

/** Rounds of "add what pip reports missing, try again" before giving up. */
export const MAX_PROOF_ROUNDS = 6;
/** One dry run may build sdist metadata: generous, but bounded. */
export const DRY_RUN_TIMEOUT_MS = 15 * 60 * 1000;

export interface ProofAddition {
  /** What pip asked for ("wheel", "numpy>=1.26.0"). */
  requirement: string;
  files: ExportedFile[];
}

export interface ExportProof {
  /** proved: pip resolves the set from DIR alone; skipped: not run (see reason); missing: pip needs what DIR lacks (--check). */
  status: 'proved' | 'skipped' | 'missing';
  /** The dry run, as a user would type it. */
  command: string;
  rounds: number;
  /** Requirements pip asked for that the export added (or, with --check, that DIR lacks), with their files. */
  added: ProofAddition[];
  reason?: string;
}

export interface ProveDeps {
  /** A dry run against these find-links directories. */
  dryRun(findLinks: string[]): Promise<DryRunResult>;
  /** Resolves the requirements through the cache and writes their closure where the next dry run sees it. */
  add(requirements: string[]): Promise<ExportedFile[]>;
  /** Only report (with --check): the caller's directories are not written. */
  checkOnly: boolean;
  /** The find-links directories of every dry run. */
  findLinks: string[];
  /** For messages: the directory as the user named it, and the dry-run command. */
  shownDir: string;
  command: string;
}

/**
 * Runs the dry run until it resolves. Throws E_OFFLINE_MISS / E_NOT_FOUND
 * when what pip asks for cannot be had, E_EXPORT_UNPROVEN when pip fails
 * for another reason (a conflict, a backend error) or keeps asking.
 */
export async function prove(deps: ProveDeps): Promise<ExportProof> {
  const proof: ExportProof = { status: 'proved', command: deps.command, rounds: 0, added: [] };
  const asked = new Set<string>();
  for (;;) {
    proof.rounds++;
    const r = await deps.dryRun(deps.findLinks);
    if (r.ok) {
      if (deps.checkOnly && proof.added.length > 0) proof.status = 'missing';
      return proof;
    }
    if (r.unsupported) {
      return { ...proof, status: 'skipped', reason: "the target interpreter's own pip has no --dry-run (pip 22.2 or later needed)" };
    }
    if (r.missing.length === 0) {
      throw new PipcacheError('E_EXPORT_UNPROVEN', `pip cannot install the exported set from ${deps.shownDir}:\n  ${deps.command}\n${indent(r.tail)}`);
    }
    const again = r.missing.filter((m) => asked.has(m));
    if (again.length > 0 || proof.rounds >= MAX_PROOF_ROUNDS) {
      throw new PipcacheError(
        'E_EXPORT_UNPROVEN',
        `pip still finds no distribution for ${(again.length > 0 ? again : r.missing).join(', ')} in ${deps.shownDir} after ${proof.rounds} round(s):\n  ${deps.command}\n${indent(r.tail)}`,
      );
    }
    for (const m of r.missing) asked.add(m);
    const lacking: PipcacheError[] = [];
    const unmet: string[] = [];
    for (const requirement of r.missing) {
      try {
        proof.added.push({ requirement, files: await deps.add([requirement]) });
      } catch (err) {
        if (!isPipcacheError(err, 'E_OFFLINE_MISS') && !isPipcacheError(err, 'E_NOT_FOUND')) throw err;
        lacking.push(err);
        unmet.push(requirement);
      }
    }
    if (lacking.length > 0) {
      const first = lacking[0] as PipcacheError;
      const what = unmet.join(', ');
      throw new PipcacheError(
        first.code,
        `${deps.shownDir} does not install: pip also needs ${what} (asked for while installing or building), and ${
          first.code === 'E_OFFLINE_MISS' ? 'offline, the cache lacks it' : 'it cannot be exported'
        }:\n${lacking.map((e) => e.message).join('\n')}`,
        { cause: first, hint: first.hint },
      );
    }
  }
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}
