/**
 * An installed environment: every `*.dist-info` in its site-packages becomes
 * an exact `name==version` root (pip, setuptools and wheel included).
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PipcacheError } from '@pipcache/shared';
import { isValidVersion, normalizeName } from '@pipcache/pep';
import { displayPath, pinnedInstallCommand, pipInstall, readIfExists, shellQuote } from './util.js';
import type { RequirementText, SnapshotSource } from './types.js';

export const SITE_PACKAGES_CODE =
  "import sysconfig, json; print(json.dumps([sysconfig.get_paths()['purelib'], sysconfig.get_paths()['platlib']]))";
export const PYTHON_TIMEOUT_MS = 30_000;

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

async function listDir(p: string): Promise<string[]> {
  try {
    return await readdir(p);
  } catch {
    return [];
  }
}

/** `<venv>/lib/python*\/site-packages` (and lib64, and Windows' `Lib/site-packages`). */
export async function venvSitePackages(venv: string): Promise<string[]> {
  const out: string[] = [];
  for (const lib of ['lib', 'lib64']) {
    for (const entry of (await listDir(join(venv, lib))).sort()) {
      if (!/^python\d/.test(entry) && !/^pypy\d/.test(entry)) continue;
      const sp = join(venv, lib, entry, 'site-packages');
      if (await isDir(sp)) out.push(sp);
    }
  }
  const win = join(venv, 'Lib', 'site-packages');
  if (await isDir(win)) out.push(win);
  return out;
}

/** The `Name` and `Version` headers of a core metadata file (RFC 822 style; first occurrence wins). */
export function parseMetadataHeaders(text: string): { name?: string; version?: string } {
  const out: { name?: string; version?: string } = {};
  for (const line of text.split(/\r\n|\n|\r/)) {
    if (line === '') break; // end of headers; the body is the description
    if (/^\s/.test(line)) continue; // continuation
    const m = /^([A-Za-z0-9-]+):\s*(.*?)\s*$/.exec(line);
    if (m === null) continue;
    const key = (m[1] as string).toLowerCase();
    if (key === 'name' && out.name === undefined) out.name = m[2] as string;
    if (key === 'version' && out.version === undefined) out.version = m[2] as string;
  }
  return out;
}

export interface EnvironmentLocation {
  /** For "using <path>": the venv directory or the interpreter. */
  path: string;
  /** How to run this environment's python in a suggested command. */
  python: string;
  sitePackages: string[];
}

export async function venvSource(loc: EnvironmentLocation, projectDir: string, cwd: string): Promise<SnapshotSource> {
  const notes: string[] = [];
  const byName = new Map<string, RequirementText>();
  const editables: string[] = [];
  let eggInfos = 0;
  for (const sp of [...new Set(loc.sitePackages)]) {
    for (const entry of (await listDir(sp)).sort()) {
      if (entry.endsWith('.egg-info')) eggInfos++;
      if (!entry.endsWith('.dist-info')) continue;
      const dist = join(sp, entry);
      const metadata = await readIfExists(join(dist, 'METADATA'));
      let { name, version } = metadata === null ? {} : parseMetadataHeaders(metadata);
      if (name === undefined || version === undefined) {
        // Fall back to the directory name: `{name}-{version}.dist-info`.
        const m = /^(.+)-([^-]+)\.dist-info$/.exec(entry);
        name ??= m?.[1];
        version ??= m?.[2];
      }
      if (name === undefined || version === undefined || !isValidVersion(version)) {
        notes.push(`skipped ${dist}: no usable Name/Version in METADATA`);
        continue;
      }
      const norm = normalizeName(name);
      const direct = await readIfExists(join(dist, 'direct_url.json'));
      if (direct !== null) {
        let info: unknown;
        try {
          info = JSON.parse(direct);
        } catch {
          info = null;
        }
        const rec = (typeof info === 'object' && info !== null ? info : {}) as Record<string, unknown>;
        const dirInfo = rec['dir_info'] as Record<string, unknown> | undefined;
        if (dirInfo?.['editable'] === true) {
          editables.push(`${norm} (${String(rec['url'] ?? 'a local directory')})`);
          continue;
        }
        if (dirInfo !== undefined || rec['vcs_info'] !== undefined) {
          notes.push(`skipped ${norm}==${version}: installed from ${String(rec['url'] ?? 'a local directory or VCS')}, not from an index`);
          continue;
        }
      }
      if (byName.has(norm)) continue;
      byName.set(norm, { text: `${norm}==${version}`, source: displayPath(dist, cwd) });
    }
  }
  if (editables.length > 0) notes.push(`skipped editable installs: ${editables.join(', ')}`);
  if (eggInfos > 0) notes.push(`skipped ${eggInfos} legacy .egg-info install(s): they have no dist-info metadata`);
  const roots = [...byName.keys()].sort().map((k) => byName.get(k) as RequirementText);
  if (roots.length === 0) notes.push(`${loc.path} has no installed distributions`);

  const reqTxt = join(projectDir, 'requirements.txt');
  const hasReqTxt = (await readIfExists(reqTxt)) !== null;
  return {
    kind: 'venv',
    path: loc.path,
    roots,
    constraints: [],
    pre: false,
    exact: true,
    installCommand: pinnedInstallCommand(
      roots.map((r) => r.text),
      hasReqTxt ? displayPath(reqTxt, cwd) : null,
      (dir) =>
        `${shellQuote(loc.python)} -m pip freeze --exclude-editable > requirements.txt && ${pipInstall(dir, ['-r', 'requirements.txt'])}`,
    ),
    notes,
  };
}

/** Locates the site-packages of `$VIRTUAL_ENV`. */
export async function virtualEnvLocation(venv: string, cwd: string): Promise<EnvironmentLocation> {
  const sitePackages = await venvSitePackages(venv);
  if (sitePackages.length === 0) {
    throw new PipcacheError('E_USAGE', `VIRTUAL_ENV=${venv} has no lib/python*/site-packages; activate a working virtualenv or pass --from-env PYTHON`);
  }
  const shown = displayPath(venv, cwd);
  const win = sitePackages.some((p) => p.endsWith(join('Lib', 'site-packages')));
  return { path: shown, python: join(shown, win ? 'Scripts' : 'bin', 'python'), sitePackages };
}

/** Asks `python` where its site-packages are. */
export async function interpreterLocation(
  python: string,
  runPython: (python: string, code: string, timeoutMs: number) => Promise<string>,
): Promise<EnvironmentLocation> {
  let out: string;
  try {
    out = await runPython(python, SITE_PACKAGES_CODE, PYTHON_TIMEOUT_MS);
  } catch (err) {
    if (err instanceof PipcacheError) throw err;
    const why = err instanceof Error ? err.message : String(err);
    throw new PipcacheError('E_USAGE', `--from-env ${python}: could not run it: ${why}`, { cause: err });
  }
  let paths: unknown;
  try {
    paths = JSON.parse(out.trim());
  } catch {
    paths = null;
  }
  if (!Array.isArray(paths) || !paths.every((p) => typeof p === 'string')) {
    throw new PipcacheError('E_BAD_REQUEST', `--from-env ${python}: unexpected output ${JSON.stringify(out.trim().slice(0, 200))}`);
  }
  return { path: python, python, sitePackages: paths as string[] };
}
