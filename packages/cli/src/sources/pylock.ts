/**
 * PEP 751 lock files (`pylock.toml` / `pylock.<name>.toml`): every package
 * whose marker holds for the target becomes an exact `name==version` root.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PipcacheError } from '@pipcache/shared';
import { evaluateMarker, isValidVersion, markerEnvFor, normalizeName, parseMarker, type MarkerEnv } from '@pipcache/pep';
import { displayPath, isTable, parseToml, pinnedInstallCommand, pipInstall, readIfExists, shellQuote } from './util.js';
import type { RequirementText, SnapshotOptions, SnapshotSource } from './types.js';

const NAMED_LOCK_RE = /^pylock\.[^/\\]+\.toml$/;

/** The lock file to use: `pylock.toml`, else the only `pylock.*.toml`; null when none. */
export async function findLockFile(projectDir: string): Promise<{ file: string; others: string[] } | null> {
  let entries: string[];
  try {
    entries = await readdir(projectDir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException | null)?.code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new PipcacheError('E_USAGE', `project directory ${projectDir} does not exist`, { cause: err });
    }
    throw err;
  }
  const named = entries.filter((e) => NAMED_LOCK_RE.test(e)).sort();
  if (entries.includes('pylock.toml')) return { file: join(projectDir, 'pylock.toml'), others: named };
  if (named.length === 0) return null;
  if (named.length > 1) {
    throw new PipcacheError(
      'E_USAGE',
      `several lock files in ${projectDir}: ${named.join(', ')}; keep only the one to export (or name it pylock.toml), or pass -r FILE, SPEC or --all`,
    );
  }
  return { file: join(projectDir, named[0] as string), others: [] };
}

/** Rewrites PEP 751's `'x' in extras` / `'x' in dependency_groups` into plain true/false comparisons. */
function substituteLockMarkers(text: string, extras: ReadonlySet<string>, groups: ReadonlySet<string>): string {
  return text.replace(
    /(['"])([^'"]*)\1\s+(not\s+in|in)\s+(extras|dependency_groups)\b/g,
    (_whole, _q: string, value: string, op: string, which: string) => {
      const set = which === 'extras' ? extras : groups;
      const hit = set.has(normalizeName(value));
      const truth = op === 'in' ? hit : !hit;
      // `extra` is '' while evaluating lock markers, so these are constant true / false.
      return truth ? 'extra == ""' : 'extra != ""';
    },
  );
}

function stringList(v: unknown): string[] | null {
  return Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : null;
}

export async function pylockSource(opts: SnapshotOptions, projectDir: string, cwd: string): Promise<SnapshotSource | null> {
  const found = opts.lockFile !== undefined ? { file: opts.lockFile, others: [] } : await findLockFile(projectDir);
  if (found === null) return null;
  const shown = displayPath(found.file, cwd);
  const text = await readIfExists(found.file);
  if (text === null && opts.lockFile !== undefined) throw new PipcacheError('E_USAGE', `${shown} does not exist`);
  if (text === null) return null;
  const doc = parseToml(text, shown);
  const bad = (why: string): PipcacheError => new PipcacheError('E_BAD_REQUEST', `${shown}: ${why}`);

  const lockVersion = doc['lock-version'];
  if (typeof lockVersion !== 'string' || !/^1\./.test(lockVersion)) {
    throw bad(`unsupported lock-version ${JSON.stringify(lockVersion ?? null)} (pipcache reads lock-version 1.x)`);
  }
  const packages = doc['packages'];
  if (packages !== undefined && (!Array.isArray(packages) || !packages.every(isTable))) {
    throw bad('packages must be an array of tables ([[packages]])');
  }

  const notes: string[] = [];
  if (found.others.length > 0) notes.push(`also found ${found.others.join(', ')}; using ${shown}`);

  // Extras and groups (PEP 751 markers may test them).
  const lockExtras = stringList(doc['extras'] ?? []);
  const lockGroups = stringList(doc['dependency-groups'] ?? []);
  if (lockExtras === null) throw bad('extras must be an array of strings');
  if (lockGroups === null) throw bad('dependency-groups must be an array of strings');
  const defaultGroups = stringList(doc['default-groups'] ?? []);
  if (defaultGroups === null) throw bad('default-groups must be an array of strings');
  const knownExtras = new Set(lockExtras.map(normalizeName));
  const knownGroups = new Set(lockGroups.map(normalizeName));
  for (const e of opts.extras) {
    if (!knownExtras.has(normalizeName(e))) {
      throw new PipcacheError('E_USAGE', `${shown} has no extra '${e}' (${available(lockExtras)})`);
    }
  }
  for (const g of opts.groups) {
    if (!knownGroups.has(normalizeName(g))) {
      throw new PipcacheError('E_USAGE', `${shown} has no dependency group '${g}' (${available(lockGroups)})`);
    }
  }
  const extras = opts.allExtras ? knownExtras : new Set(opts.extras.map(normalizeName));
  const groups = new Set((opts.groups.length > 0 ? opts.groups : defaultGroups).map(normalizeName));

  let markerEnv: MarkerEnv | undefined;
  const envForMarkers = (): MarkerEnv =>
    (markerEnv ??= { ...markerEnvFor({ pythonVersion: opts.target.pythonVersion }), ...opts.target.markerEnv, extra: '' } as MarkerEnv);

  const roots: RequirementText[] = [];
  const excluded: string[] = [];
  ((packages ?? []) as Record<string, unknown>[]).forEach((pkg, i) => {
    const where = `packages[${i}]`;
    const name = pkg['name'];
    if (typeof name !== 'string' || name.length === 0) throw bad(`${where} has no name`);
    const version = pkg['version'];
    const marker = pkg['marker'];
    if (marker !== undefined) {
      if (typeof marker !== 'string') throw bad(`${where} (${name}): marker must be a string`);
      let holds: boolean;
      try {
        holds = evaluateMarker(parseMarker(substituteLockMarkers(marker, extras, groups)), envForMarkers());
      } catch (err) {
        if (err instanceof PipcacheError && err.code !== 'E_USAGE') throw bad(`${where} (${name}): ${err.message}`);
        throw err;
      }
      if (!holds) {
        excluded.push(`${name}${typeof version === 'string' ? `==${version}` : ''}`);
        return;
      }
    }
    const from = ['directory', 'vcs', 'archive'].find((k) => pkg[k] !== undefined);
    if (from !== undefined) {
      notes.push(`skipped ${name} (${shown} ${where}): installed from a ${from}, not from an index`);
      return;
    }
    if (typeof version !== 'string') {
      notes.push(`skipped ${name} (${shown} ${where}): no version recorded`);
      return;
    }
    if (!isValidVersion(version)) throw bad(`${where} (${name}): invalid version '${version}'`);
    roots.push({ text: `${name}==${version}`, source: `${shown}:${where}` });
  });
  if (excluded.length > 0) {
    notes.push(`left out ${excluded.length} package(s) whose marker is false for the target: ${excluded.join(', ')}`);
  }

  const reqTxt = join(projectDir, 'requirements.txt');
  const hasReqTxt = (await readIfExists(reqTxt)) !== null;
  const pins = roots.map((r) => r.text);
  return {
    kind: 'pylock',
    path: shown,
    roots,
    constraints: [],
    pre: false, // an exact pin of a pre-release allows it by itself
    exact: true,
    installCommand: pinnedInstallCommand(
      pins,
      hasReqTxt ? displayPath(reqTxt, cwd) : null,
      (dir) => `${pipInstall(dir, [`<the ${pins.length} pinned requirements from ${shellQuote(shown)}>`])}`,
    ),
    notes,
  };
}

function available(names: string[]): string {
  return names.length === 0 ? 'it lists none' : `available: ${names.join(', ')}`;
}
