import { basename, dirname, resolve as resolvePath } from 'node:path';
import type { Argv } from 'yargs';
import { PipcacheError, type PinRequest, type PinResult, type PinsResult, type RequirementText, type UnpinResult } from '@pipcache/shared';
import { call } from '../client.js';
import { paths } from '../context.js';
import { formatBytes, table } from '../output.js';
import { progressBar } from '../progress.js';
import { pylockSource } from '../sources/index.js';
import { resolveTarget } from '../target.js';
import { plan } from './export.js';

/** A pin may download a whole closure first, like an export. */
const PIN_TIMEOUT_MS = 2 * 60 * 60 * 1000;

const LOCK_RE = /^pylock(\.[^/\\]+)?\.toml$/;

export interface PinArgs {
  items?: string[];
  requirement?: string[];
  constraint?: string[];
  name?: string;
  pythonVersion?: string;
  platform?: string[];
  deps?: boolean;
  pre?: boolean;
  json?: boolean;
}

export function builder(y: Argv): Argv<PinArgs> {
  return y
    .positional('items', { type: 'string', array: true, describe: 'requirements (as on a requirements-file line) or PEP 751 lock files (pylock.toml)' })
    .option('requirement', { alias: 'r', type: 'string', array: true, describe: 'a requirements file (repeatable)' })
    .option('constraint', { alias: 'c', type: 'string', array: true, describe: 'a constraints file (repeatable)' })
    .option('name', { type: 'string', describe: 'name of the pin set (default: file:<path> of the file, or spec:<the specs>)' })
    .option('python-version', { type: 'string', describe: 'target Python (X.Y); default: the python3 on PATH' })
    .option('platform', { type: 'string', array: true, describe: 'target wheel platform tag (repeatable)' })
    .option('deps', { type: 'boolean', default: true, describe: "with the requirements' dependencies (--no-deps: only those named)" })
    .option('pre', { type: 'boolean', default: false, describe: 'allow pre-releases' })
    .option('json', { type: 'boolean', default: false }) as unknown as Argv<PinArgs>;
}

/** The pin set's name when none is given: the files it came from, else the specs. */
export function defaultPinName(files: readonly string[], specs: readonly string[]): string {
  const parts: string[] = [];
  if (files.length > 0) parts.push(`file:${files.join(',')}`);
  if (specs.length > 0) parts.push(`spec:${specs.join(' ')}`);
  return parts.join(' ');
}

export async function pin(args: PinArgs): Promise<{ result: unknown; text: string }> {
  const cwd = process.cwd();
  const items = args.items ?? [];
  const locks = items.filter((i) => LOCK_RE.test(basename(i))).map((i) => resolvePath(cwd, i));
  const specs = items.filter((i) => !LOCK_RE.test(basename(i)));
  const reqFiles = (args.requirement ?? []).map((f) => resolvePath(cwd, f));
  if (specs.length + reqFiles.length + locks.length === 0) {
    throw new PipcacheError('E_USAGE', 'nothing to pin: give -r FILE, a pylock.toml or SPEC');
  }
  if (specs.length + reqFiles.length === 0 && (args.constraint ?? []).length > 0) {
    throw new PipcacheError('E_USAGE', '-c applies to -r FILE and SPEC, not to lock files');
  }
  const target = await resolveTarget({ ...(args.pythonVersion ? { pythonVersion: args.pythonVersion } : {}), platforms: args.platform ?? [] });
  const roots: RequirementText[] = [];
  const constraints: RequirementText[] = [];
  const notes: string[] = [];
  let pre = Boolean(args.pre);
  if (specs.length + reqFiles.length > 0) {
    const p = await plan({ dir: '', specs, requirement: reqFiles, ...(args.constraint ? { constraint: args.constraint } : {}), pre }, cwd, target.pythonVersion, target.markerEnv);
    roots.push(...p.roots);
    constraints.push(...p.constraints);
    notes.push(...p.notes);
    pre = p.pre;
  }
  for (const file of locks) {
    const opts = { projectDir: dirname(file), lockFile: file, extras: [], allExtras: false, groups: [], env: process.env };
    const source = await pylockSource({ ...opts, target: { pythonVersion: target.pythonVersion, ...(target.markerEnv ? { markerEnv: target.markerEnv } : {}) } }, dirname(file), cwd);
    if (source === null) throw new PipcacheError('E_USAGE', `cannot read ${file}`);
    roots.push(...source.roots);
    notes.push(...source.notes);
  }
  const req: PinRequest = { name: args.name ?? defaultPinName([...reqFiles, ...locks], specs), roots, constraints, pre, noDeps: args.deps === false, target };
  const bar = progressBar(process.stderr);
  let res: PinResult;
  try {
    res = await call<PinResult>(paths().socket, 'pin', req as unknown as Record<string, unknown>, PIN_TIMEOUT_MS, args.json ? undefined : bar.update);
  } finally {
    bar.done();
  }
  const fetched = res.pinned.filter((f) => f.fetched).length;
  const lines = [`pinned ${res.set.files} files (${formatBytes(res.set.bytes)}) as ${res.set.name}${fetched > 0 ? `: ${fetched} fetched` : ''}`];
  for (const n of [...notes, ...res.notes]) lines.push(`note: ${n}`);
  for (const s of res.noMetadata) lines.push(`note: no metadata for ${s.project} ${s.version}; its dependencies may be missing`);
  return { result: res, text: lines.join('\n') };
}

export async function pins(): Promise<{ result: unknown; text: string }> {
  const res = await call<PinsResult>(paths().socket, 'pins', {});
  if (res.sets.length === 0) return { result: res, text: 'nothing is pinned' };
  const rows = [['NAME', 'FILES', 'SIZE', 'CREATED']];
  for (const s of res.sets) rows.push([s.name, String(s.files), formatBytes(s.bytes), s.created.replace(/\.\d+Z$/, 'Z')]);
  return { result: res, text: `${table(rows)}\n${res.sets.length} pin sets keep ${formatBytes(res.pinnedBytes)}` };
}

/** `unpin DIR|NAME`: the name as typed, then as a path (an export directory), then as `file:<path>`. */
export async function unpin(args: { name: string }): Promise<{ result: unknown; text: string }> {
  const abs = resolvePath(process.cwd(), args.name);
  const names = [...new Set([args.name, abs, `file:${abs}`])];
  const res = await call<UnpinResult>(paths().socket, 'unpin', { names });
  return { result: res, text: `unpinned ${res.name} (${res.files} files): the cache may now evict them` };
}
