/**
 * `pyproject.toml`: [project].dependencies, the extras and PEP 735
 * dependency groups asked for, and [build-system].requires (so that
 * `pip install --no-index --find-links DIR .` can build the project).
 */
import { join } from 'node:path';
import { PipcacheError } from '@pipcache/shared';
import { normalizeName, parseRequirementLine } from '@pipcache/pep';
import { displayPath, isTable, parseToml, pipInstall, readIfExists, shellQuote } from './util.js';
import type { RequirementText, SnapshotOptions, SnapshotSource } from './types.js';

/** pip's build requirements for a pyproject.toml without [build-system]. */
export const DEFAULT_BUILD_REQUIRES = ['setuptools>=40.8.0', 'wheel'];

export async function pyprojectSource(opts: SnapshotOptions, projectDir: string, cwd: string): Promise<SnapshotSource | null> {
  const abs = join(projectDir, 'pyproject.toml');
  const text = await readIfExists(abs);
  if (text === null) return null;
  const shown = displayPath(abs, cwd);
  const doc = parseToml(text, shown);
  const bad = (why: string): PipcacheError => new PipcacheError('E_BAD_REQUEST', `${shown}: ${why}`);
  const notes: string[] = [];

  const project = doc['project'];
  if (project === undefined) {
    throw new PipcacheError('E_USAGE', `${shown}: no [project] table, so dependencies are dynamic (setup.py); pass -r FILE or use a lock file`);
  }
  if (!isTable(project)) throw bad('[project] must be a table');
  const dynamic = project['dynamic'] ?? [];
  if (!isStringArray(dynamic)) throw bad('project.dynamic must be an array of strings');
  if (dynamic.includes('dependencies')) {
    throw new PipcacheError('E_USAGE', `${shown}: dependencies are dynamic (setup.py); pass -r FILE or use a lock file`);
  }
  const projectName = typeof project['name'] === 'string' ? normalizeName(project['name']) : null;

  const roots: RequirementText[] = [];
  const seen = new Set<string>();
  const wantExtras = new Set<string>();
  const add = (reqText: string, source: string): void => {
    const req = parseRequirementLine(reqText, source);
    // `myproject[a,b]` inside an extra or a group means "these extras of this project too".
    if (projectName !== null && req.name === projectName) {
      for (const e of req.extras) wantExtras.add(e);
      return;
    }
    if (seen.has(req.text)) return;
    seen.add(req.text);
    roots.push({ text: req.text, source });
  };

  const deps = project['dependencies'] ?? [];
  if (!isStringArray(deps)) throw bad('project.dependencies must be an array of strings');
  deps.forEach((d, i) => add(d, `${shown}:project.dependencies[${i}]`));

  // Extras.
  const optional = project['optional-dependencies'] ?? {};
  if (!isTable(optional)) throw bad('[project.optional-dependencies] must be a table');
  const extraNames = new Map<string, string>(); // normalized -> as written
  for (const [name, list] of Object.entries(optional)) {
    if (!isStringArray(list)) throw bad(`project.optional-dependencies.${name} must be an array of strings`);
    extraNames.set(normalizeName(name), name);
  }
  const askedExtras = opts.allExtras ? [...extraNames.values()] : opts.extras;
  if (askedExtras.length > 0 && dynamic.includes('optional-dependencies')) {
    throw new PipcacheError('E_USAGE', `${shown}: optional-dependencies are dynamic (setup.py); pass -r FILE or use a lock file`);
  }
  for (const e of opts.extras) {
    if (!extraNames.has(normalizeName(e))) {
      throw new PipcacheError('E_USAGE', `${shown} has no extra '${e}' (${available([...extraNames.values()])})`);
    }
  }
  for (const e of askedExtras) wantExtras.add(normalizeName(e));
  // Dependency groups (PEP 735).
  const groupsTable = doc['dependency-groups'] ?? {};
  if (!isTable(groupsTable)) throw bad('[dependency-groups] must be a table');
  const groupNames = new Map<string, string>();
  for (const name of Object.keys(groupsTable)) {
    const norm = normalizeName(name);
    const prev = groupNames.get(norm);
    if (prev !== undefined) throw bad(`dependency groups '${prev}' and '${name}' have the same normalized name`);
    groupNames.set(norm, name);
  }
  for (const g of opts.groups) {
    if (!groupNames.has(normalizeName(g))) {
      throw new PipcacheError('E_USAGE', `${shown} has no dependency group '${g}' (${available([...groupNames.values()])})`);
    }
  }
  const doneGroups = new Set<string>();
  const walkGroup = (norm: string, stack: string[]): void => {
    const written = groupNames.get(norm) as string;
    if (stack.includes(norm)) {
      throw bad(`dependency group '${written}' includes itself (${[...stack, norm].map((n) => groupNames.get(n)).join(' -> ')})`);
    }
    if (doneGroups.has(norm)) return;
    const list = groupsTable[written];
    if (!Array.isArray(list)) throw bad(`dependency-groups.${written} must be an array`);
    list.forEach((item: unknown, i) => {
      const source = `${shown}:dependency-groups.${written}[${i}]`;
      if (typeof item === 'string') {
        add(item, source);
      } else if (isTable(item) && typeof item['include-group'] === 'string' && Object.keys(item).length === 1) {
        const inc = normalizeName(item['include-group']);
        if (!groupNames.has(inc)) throw bad(`dependency-groups.${written}[${i}] includes unknown group '${item['include-group']}'`);
        walkGroup(inc, [...stack, norm]);
      } else {
        throw bad(`dependency-groups.${written}[${i}] must be a requirement string or {include-group = "NAME"}`);
      }
    });
    doneGroups.add(norm);
  };
  for (const g of opts.groups) walkGroup(normalizeName(g), []);
  const doneExtras = new Set<string>();
  // Extras, including those a self-reference (`myproject[b]` in an extra or a group) asks for.
  for (let again = true; again; ) {
    again = false;
    for (const e of [...wantExtras]) {
      if (doneExtras.has(e)) continue;
      doneExtras.add(e);
      again = true;
      const written = extraNames.get(e);
      if (written === undefined) throw bad(`a requirement on ${projectName ?? 'the project'} itself names unknown extra '${e}'`);
      (optional[written] as string[]).forEach((d, i) => add(d, `${shown}:project.optional-dependencies.${written}[${i}]`));
    }
  }

  // Build requirements.
  const buildSystem = doc['build-system'];
  if (buildSystem === undefined) {
    DEFAULT_BUILD_REQUIRES.forEach((r) => add(r, `${shown}:build-system (pip's default)`));
    notes.push(`${shown} has no [build-system]; including pip's default build requirements (${DEFAULT_BUILD_REQUIRES.join(', ')})`);
  } else {
    if (!isTable(buildSystem)) throw bad('[build-system] must be a table');
    const requires = buildSystem['requires'];
    if (!isStringArray(requires)) throw bad('build-system.requires is missing or not an array of strings');
    requires.forEach((r, i) => add(r, `${shown}:build-system.requires[${i}]`));
  }

  // What the user runs afterwards.
  const target = displayPath(projectDir, cwd);
  const extrasForPip = [...doneExtras].map((e) => extraNames.get(e) as string);
  const installArgs = [shellQuote(extrasForPip.length > 0 ? `${target}[${extrasForPip.join(',')}]` : target)];
  for (const g of opts.groups) {
    const written = groupNames.get(normalizeName(g)) as string;
    installArgs.push('--group', shellQuote(target === '.' ? written : `${shown}:${written}`));
  }
  if (opts.groups.length > 0) notes.push('pip install --group needs pip 25.1 or later');

  return {
    kind: 'pyproject',
    path: shown,
    roots,
    constraints: [],
    pre: false,
    exact: false,
    project: extrasForPip.length > 0 ? `${projectDir}[${extrasForPip.join(',')}]` : projectDir,
    installCommand: (dir) => pipInstall(dir, installArgs),
    notes,
  };
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

function available(names: string[]): string {
  return names.length === 0 ? 'it defines none' : `available: ${names.join(', ')}`;
}
