/**
 * `pipcache export` proves what it wrote: the same set is dry-run installed
 * from DIR alone by the target interpreter (see prove.ts). Written exports
 * get what pip asks for added to DIR through the daemon; `--check` writes
 * nothing to DIR: the dry run reads DIR plus a temp directory that holds
 * what DIR lacks, and whatever lands there is reported as lacking.
 */
import { mkdtemp, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExportRequest, ExportResult, ExportedFile } from '@pipcache/shared';
import { createProofVenv } from './dry-run.js';
import { DRY_RUN_TIMEOUT_MS, prove, type ExportProof } from './prove.js';

export interface ProofPlan {
  /** The export as sent to the daemon. */
  request: ExportRequest;
  shownDir: string;
  /** The dry run as a user would type it. */
  command: string;
  /** The local project (absolute, with extras) when the export snapshots it. */
  project?: string;
}

export interface ProofDeps {
  /** The target interpreter. */
  python: string;
  /** Sends an export request to the daemon. */
  send(req: ExportRequest): Promise<ExportResult>;
  /** Progress lines for a human. */
  say?: (line: string) => void;
}

export function skippedProof(plan: ProofPlan, reason: string): ExportProof {
  return { status: 'skipped', command: plan.command, rounds: 0, added: [], reason };
}

/** pip's arguments for the set: the project itself, then the requirements and constraints as files. */
async function pipArgs(plan: ProofPlan, dir: string): Promise<string[]> {
  const req = plan.request;
  const args: string[] = [];
  if (plan.project !== undefined) args.push(plan.project);
  if (req.roots.length > 0) {
    const file = join(dir, 'requirements.txt');
    await writeFile(file, req.roots.map((r) => r.text).join('\n') + '\n');
    args.push('-r', file);
  }
  if (req.constraints.length > 0) {
    const file = join(dir, 'constraints.txt');
    await writeFile(file, req.constraints.map((r) => r.text).join('\n') + '\n');
    args.push('-c', file);
  }
  if (req.pre) args.push('--pre');
  if (req.noDeps) args.push('--no-deps');
  return args;
}

const pinned = (f: ExportedFile): { text: string; source: string } => ({ text: `${f.project}==${f.version}`, source: 'pipcache export --check' });

/**
 * Proves the export `res` came from; updates `res` with what the proof
 * added (written exports) or found lacking (`--check`).
 */
export async function proveExport(res: ExportResult, plan: ProofPlan, d: ProofDeps): Promise<ExportProof> {
  const req = plan.request;
  d.say?.(`proving ${plan.shownDir}: ${plan.command}`);
  const venv = await createProofVenv(d.python);
  try {
    const args = await pipArgs(plan, venv.dir);
    let into = req.dir;
    const findLinks = [req.dir];
    if (req.check) {
      into = await mkdtemp(join(venv.dir, 'staging-'));
      findLinks.push(into);
      const lacking = res.lacking ?? [];
      if (lacking.length > 0) {
        // A throwaway directory: nothing of it is pinned.
        await d.send({ ...req, dir: into, roots: lacking.map(pinned), constraints: [], noDeps: true, check: false, prune: false, pin: 'none' });
      }
    }
    const proof = await prove({
      dryRun: (dirs) => venv.dryRun(dirs, args, DRY_RUN_TIMEOUT_MS),
      add: async (requirements) => {
        d.say?.(`pip asks for ${requirements.join(', ')}: ${req.check ? 'looking it up' : 'adding it'}`);
        const r = await d.send({
          ...req,
          dir: into,
          roots: requirements.map((text) => ({ text, source: `pip, installing from ${plan.shownDir}` })),
          all: false,
          noDeps: false,
          check: false,
          prune: false,
          // Written exports keep what pip asked for along with the rest of DIR.
          pin: req.check ? 'none' : 'add',
        });
        return r.written;
      },
      checkOnly: req.check,
      findLinks,
      shownDir: plan.shownDir,
      command: plan.command,
    });
    for (const a of proof.added) {
      if (req.check) {
        const have = new Set((res.lacking ?? []).map((f) => f.filename));
        for (const f of a.files) {
          if (have.has(f.filename) || (await existsIn(req.dir, f))) continue;
          (res.lacking ??= []).push({ ...f, action: 'missing' });
          res.files++;
          res.bytes += f.size;
        }
      } else {
        const have = new Set(res.written.map((f) => f.filename));
        for (const f of a.files) {
          if (have.has(f.filename)) continue;
          res.written.push(f);
          res.files++;
          res.bytes += f.size;
          if (f.action === 'linked') res.linked++;
          else if (f.action === 'copied') res.copied++;
          else if (f.action === 'skipped') res.skipped++;
        }
      }
    }
    return proof;
  } finally {
    await venv.dispose();
  }
}

/** Whether DIR holds a file of that name and size (the proof found it lacking for another reason then). */
async function existsIn(dir: string, f: ExportedFile): Promise<boolean> {
  const st = await stat(join(dir, f.filename)).catch(() => null);
  return st !== null && st.size === f.size;
}
