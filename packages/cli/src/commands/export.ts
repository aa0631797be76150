import { readFile } from 'node:fs/promises';
import { resolve as resolvePath, relative } from 'node:path';
import type { Argv } from 'yargs';
import { PipcacheError, type ExportedFile, type ExportRequest, type ExportResult, type RequirementText } from '@pipcache/shared';
import { readRequirementsFile } from '@pipcache/pep';
import { call } from '../client.js';
import { paths } from '../context.js';
import { formatBytes } from '../output.js';
import { findSnapshotSource } from '../sources/index.js';
import { resolveTarget } from '../target.js';
import { progressBar } from '../progress.js';
import { proveExport, skippedProof, type ProofPlan } from '../proof/export-proof.js';
import type { ExportProof } from '../proof/prove.js';

/** An export may download a whole closure first. */
const EXPORT_TIMEOUT_MS = 2 * 60 * 60 * 1000;

export interface ExportArgs {
  dir: string;
  specs?: string[];
  requirement?: string[];
  constraint?: string[];
  all?: boolean;
  pythonVersion?: string;
  platform?: string[];
  /** `--no-deps` sets it false (yargs reads `--no-X` as the negation of X). */
  deps?: boolean;
  prune?: boolean;
  pre?: boolean;
  check?: boolean;
  json?: boolean;
  project?: string;
  extra?: string[];
  allExtras?: boolean;
  group?: string[];
  fromEnv?: string;
  proof?: boolean;
}

export function builder(y: Argv): Argv<ExportArgs> {
  return y
    .positional('dir', { type: 'string', demandOption: true, describe: 'the find-links directory to write (or check)' })
    .positional('specs', { type: 'string', array: true, describe: 'requirements, as on a requirements-file line' })
    .option('requirement', { alias: 'r', type: 'string', array: true, describe: 'a requirements file (repeatable)' })
    .option('constraint', { alias: 'c', type: 'string', array: true, describe: 'a constraints file (repeatable)' })
    .option('all', { type: 'boolean', default: false, describe: 'export the whole cache' })
    .option('python-version', { type: 'string', describe: 'target Python (X.Y); default: the python3 on PATH' })
    .option('platform', { type: 'string', array: true, describe: 'target wheel platform tag (repeatable), e.g. manylinux2014_x86_64' })
    .option('deps', { type: 'boolean', default: true, describe: 'with the requirements\' dependencies (--no-deps: only the named requirements)' })
    .option('pre', { type: 'boolean', default: false, describe: 'allow pre-releases' })
    .option('prune', { type: 'boolean', default: false, describe: 'delete archives in DIR that are not part of this export' })
    .option('check', { type: 'boolean', default: false, describe: 'write nothing: exit 0 if DIR holds everything, else 1 and what is missing' })
    .option('project', { type: 'string', describe: 'project directory to snapshot (default: the current directory)' })
    .option('extra', { type: 'string', array: true, describe: 'pyproject optional-dependencies group (repeatable)' })
    .option('all-extras', { type: 'boolean', default: false, describe: 'every optional-dependencies group' })
    .option('group', { type: 'string', array: true, describe: 'PEP 735 dependency group (repeatable)' })
    .option('from-env', { type: 'string', describe: 'snapshot the distributions installed in this Python environment' })
    .option('proof', {
      type: 'boolean',
      default: true,
      describe: 'prove DIR with a dry-run install in a throwaway venv of the target Python, adding what pip asks for (--no-proof: skip)',
    })
    .option('json', { type: 'boolean', default: false }) as unknown as Argv<ExportArgs>;
}

export interface Plan {
  roots: RequirementText[];
  constraints: RequirementText[];
  pre: boolean;
  usedSource?: string;
  notes: string[];
  installCommand: (dir: string) => string;
  /** The local project (pyproject source), for the proof. */
  project?: string;
}

const FIND_LINKS = (dir: string): string => `pip install --no-index --find-links ${dir}`;

/** The requirements of an export (or of `pipcache pin`): files and specs given, else the project's snapshot source. */
export async function plan(args: ExportArgs, cwd: string, pythonVersion: string, markerEnv?: Record<string, string>): Promise<Plan> {
  const roots: RequirementText[] = [];
  const constraints: RequirementText[] = [];
  const notes: string[] = [];
  let pre = Boolean(args.pre);
  for (const file of args.requirement ?? []) {
    const parsed = await readRequirementsFile(resolvePath(cwd, file), (p) => readFile(p, 'utf8'), { env: process.env });
    roots.push(...parsed.requirements.map((r) => ({ text: r.text, source: r.source })));
    constraints.push(...parsed.constraints.map((r) => ({ text: r.text, source: r.source })));
    for (const e of parsed.editables) notes.push(`skipped editable ${e.line} (${e.source})`);
    for (const u of parsed.unsupported) notes.push(`skipped ${u.line} (${u.source}): ${u.reason}`);
    pre ||= parsed.pre;
  }
  for (const file of args.constraint ?? []) {
    const parsed = await readRequirementsFile(resolvePath(cwd, file), (p) => readFile(p, 'utf8'), { env: process.env });
    constraints.push(...[...parsed.requirements, ...parsed.constraints].map((r) => ({ text: r.text, source: r.source })));
  }
  const specs = args.specs ?? [];
  roots.push(...specs.map((text) => ({ text, source: 'command line' })));
  if (roots.length > 0 || args.all) {
    const rfiles = (args.requirement ?? []).map((f) => `-r ${f}`).join(' ');
    return {
      roots,
      constraints,
      pre,
      notes,
      installCommand: (dir) =>
        `${FIND_LINKS(dir)} ${[rfiles, ...specs.map((s) => (/[\s<>;!]/.test(s) ? `'${s}'` : s))].filter(Boolean).join(' ') || '<package>'}`,
    };
  }
  const source = await findSnapshotSource({
    projectDir: resolvePath(cwd, args.project ?? '.'),
    extras: args.extra ?? [],
    allExtras: Boolean(args.allExtras),
    groups: args.group ?? [],
    ...(args.fromEnv ? { fromEnv: args.fromEnv } : {}),
    env: process.env,
    target: { pythonVersion, ...(markerEnv ? { markerEnv } : {}) },
  });
  return {
    roots: source.roots,
    constraints: [...constraints, ...source.constraints],
    pre: pre || source.pre,
    usedSource: `${source.kind} (${relative(cwd, source.path) || source.path})`,
    notes: [...notes, ...source.notes],
    installCommand: source.installCommand,
    ...(source.project !== undefined ? { project: source.project } : {}),
  };
}

function renderProof(proof: ExportProof, check: boolean, lacking: number): string[] {
  const lines: string[] = [];
  const rounds = proof.rounds === 1 ? '' : ` (${proof.rounds} rounds)`;
  if (proof.status === 'skipped') lines.push(`not proved: ${proof.reason ?? ''}`);
  else if (proof.status === 'missing') lines.push(`proof: pip asks for what the directory lacks${rounds}:`);
  else if (check && lacking > 0) lines.push(`proved: pip resolves the set once the lacking files are added${rounds}`);
  else lines.push(`proved: pip resolves the set from the directory alone${rounds}`);
  for (const a of proof.added) {
    const files = a.files.map((f) => f.filename).join(', ') || 'nothing new';
    lines.push(`  pip asked for ${a.requirement}: ${check ? 'lacking' : 'added'} ${files}`);
  }
  return lines;
}

function fromIndex(f: ExportedFile): string {
  return f.index === null ? 'imported' : `from ${f.index}`;
}

/** `pypi 12, torch 1, imported 2`: where the written files came from. */
function byIndex(files: readonly ExportedFile[]): string {
  const counts = new Map<string, number>();
  for (const f of files) counts.set(f.index ?? 'imported', (counts.get(f.index ?? 'imported') ?? 0) + 1);
  return [...counts].map(([name, n]) => `${name} ${n}`).join(', ');
}

function render(res: ExportResult, p: Plan, shownDir: string, check: boolean, proof: ExportProof): string {
  const lines: string[] = [];
  if (p.usedSource) lines.push(`using ${p.usedSource}`);
  for (const n of p.notes) lines.push(`note: ${n}`);
  if (check) {
    if (res.lacking && res.lacking.length > 0) {
      lines.push(`${shownDir} lacks ${res.lacking.length} of ${res.files} files:`);
      for (const f of res.lacking) lines.push(`  ${f.filename}  (${f.project} ${f.version}, ${fromIndex(f)})`);
    } else lines.push(`${shownDir} holds all ${res.files} files (${formatBytes(res.bytes)})`);
    lines.push(...renderProof(proof, true, res.lacking?.length ?? 0));
    return lines.join('\n');
  }
  lines.push(
    `exported ${res.files} files (${formatBytes(res.bytes)}) to ${shownDir}: ${res.linked} linked, ${res.copied} copied, ${res.skipped} already there`,
  );
  if (res.written.length > 0) lines.push(`by index: ${byIndex(res.written)}`);
  if (res.pruned.length > 0) lines.push(`pruned ${res.pruned.length}: ${res.pruned.join(', ')}`);
  for (const s of res.sdistOnly) lines.push(`note: ${s.project} ${s.version} is an sdist only: pip builds it at install time (its build requirements are exported too)`);
  for (const n of res.notes) lines.push(`note: ${n}`);
  for (const s of res.noMetadata) lines.push(`note: no metadata for ${s.project} ${s.version}; its dependencies may be missing`);
  lines.push(...renderProof(proof, false, 0));
  lines.push('install from it with:', `  ${p.installCommand(shownDir)}`);
  return lines.join('\n');
}

export async function exportCmd(args: ExportArgs): Promise<{ result: unknown; text: string }> {
  const cwd = process.cwd();
  const dir = resolvePath(cwd, args.dir);
  const explicitTarget = Boolean(args.pythonVersion) || (args.platform ?? []).length > 0;
  const target = await resolveTarget({
    ...(args.pythonVersion ? { pythonVersion: args.pythonVersion } : {}),
    platforms: args.platform ?? [],
    ...(args.fromEnv && !explicitTarget ? { python: args.fromEnv } : {}),
  });
  const p = await plan(args, cwd, target.pythonVersion, target.markerEnv);
  const req: ExportRequest = {
    dir,
    roots: p.roots,
    constraints: p.constraints,
    pre: p.pre,
    all: Boolean(args.all),
    noDeps: args.deps === false,
    prune: Boolean(args.prune),
    check: Boolean(args.check),
    target,
  };
  const bar = progressBar(process.stderr);
  const send = async (r: ExportRequest, quiet = false): Promise<ExportResult> => {
    try {
      return await call<ExportResult>(paths().socket, 'export', r as unknown as Record<string, unknown>, EXPORT_TIMEOUT_MS, args.json || quiet ? undefined : bar.update);
    } finally {
      bar.done();
    }
  };
  const res = await send(req);
  const proofPlan: ProofPlan = {
    request: req,
    shownDir: args.dir,
    command: p.installCommand(args.dir).replace(/^pip install /, 'pip install --dry-run '),
    ...(p.project !== undefined ? { project: p.project } : {}),
  };
  const skip =
    args.proof === false
      ? 'turned off with --no-proof'
      : args.all
        ? '--all exports every cached version, which is no one installable set'
        : explicitTarget
          ? 'the target was given with --python-version/--platform, not as an interpreter to run'
          : null;
  const proof =
    skip !== null
      ? skippedProof(proofPlan, skip)
      : await proveExport(res, proofPlan, {
          python: args.fromEnv ?? 'python3',
          send: (r) => send(r, true),
          ...(args.json ? {} : { say: (line: string) => process.stderr.write(`${line}\n`) }),
        });
  if (args.check && res.lacking && res.lacking.length > 0) process.exitCode = 1;
  return {
    result: { ...res, proof, source: p.usedSource ?? null, installCommand: p.installCommand(args.dir) },
    text: render(res, p, args.dir, Boolean(args.check), proof),
  };
}
