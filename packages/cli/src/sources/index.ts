/**
 * Where `pipcache export` gets its requirements when given no `-r FILE`,
 * `SPEC` or `--all`: the project in the current (or --project) directory.
 *
 * Order, first that exists wins:
 *   0. --from-env PYTHON (an explicit choice beats every file);
 *   1. a PEP 751 lock file (pylock.toml, else a single pylock.*.toml);
 *   2. requirements.txt (skipped for pyproject.toml when --extra/--group is given);
 *   3. pyproject.toml ([project] dependencies + extras + groups + build requires);
 *   4. $VIRTUAL_ENV.
 * Nothing here writes anything.
 */
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { PipcacheError } from '@pipcache/shared';
import { pylockSource } from './pylock.js';
import { pyprojectSource } from './pyproject.js';
import { requirementsSource } from './requirements.js';
import { displayPath, readIfExists } from './util.js';
import { interpreterLocation, venvSource, virtualEnvLocation } from './venv.js';
import type { SnapshotDeps, SnapshotOptions, SnapshotSource } from './types.js';

export type { RequirementText, SnapshotDeps, SnapshotOptions, SnapshotSource } from './types.js';
export { findLockFile, pylockSource } from './pylock.js';
export { DEFAULT_BUILD_REQUIRES } from './pyproject.js';
export { parseMetadataHeaders, SITE_PACKAGES_CODE } from './venv.js';

/** Runs `python -c code`, resolving with stdout. */
export function runPython(python: string, code: string, timeoutMs: number): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(python, ['-c', code], { timeout: timeoutMs, maxBuffer: 1024 * 1024 }, (err, stdout, stderr) => {
      if (err !== null) {
        const detail = stderr.trim().split('\n').pop();
        const why = err.killed ? `no answer within ${timeoutMs / 1000} s` : (detail || err.message);
        reject(new Error(why));
        return;
      }
      resolvePromise(stdout);
    });
  });
}

export async function findSnapshotSource(opts: SnapshotOptions, deps: Partial<SnapshotDeps> = {}): Promise<SnapshotSource> {
  const cwd = deps.cwd ?? process.cwd();
  const projectDir = resolve(cwd, opts.projectDir);
  const wantsProjectOptions = opts.extras.length > 0 || opts.allExtras || opts.groups.length > 0;
  const projectOptionsUnusable = (what: string): PipcacheError =>
    new PipcacheError('E_USAGE', `--extra, --all-extras and --group need a pyproject.toml or pylock.toml; ${what} has neither extras nor groups`);

  const source = await pick();
  if (source.kind !== 'pylock' && (await readIfExists(join(projectDir, 'uv.lock'))) !== null) {
    source.notes.push(
      `${displayPath(join(projectDir, 'uv.lock'), cwd)} is not read; \`uv export --format pylock.toml -o pylock.toml\` writes a lock file pipcache uses`,
    );
  }
  return source;

  async function pick(): Promise<SnapshotSource> {
    if (opts.fromEnv !== undefined) {
      if (wantsProjectOptions) throw projectOptionsUnusable(`--from-env ${opts.fromEnv}`);
      const loc = await interpreterLocation(opts.fromEnv, deps.runPython ?? runPython);
      return venvSource(loc, projectDir, cwd);
    }

    const lock = await pylockSource(opts, projectDir, cwd);
    if (lock !== null) return lock;

    const skippedReqs: string[] = [];
    const hasPyproject = (await readIfExists(join(projectDir, 'pyproject.toml'))) !== null;
    if (wantsProjectOptions && hasPyproject) {
      if ((await readIfExists(join(projectDir, 'requirements.txt'))) !== null) {
        skippedReqs.push(`${displayPath(join(projectDir, 'requirements.txt'), cwd)} not used: --extra/--group apply to pyproject.toml`);
      }
    } else {
      const reqs = await requirementsSource(projectDir, opts.env, cwd);
      if (reqs !== null) {
        if (wantsProjectOptions) throw projectOptionsUnusable(reqs.path);
        return reqs;
      }
    }

    const pyproject = await pyprojectSource(opts, projectDir, cwd);
    if (pyproject !== null) {
      pyproject.notes.unshift(...skippedReqs);
      return pyproject;
    }

    const venv = opts.env['VIRTUAL_ENV'];
    if (venv !== undefined && venv !== '') {
      if (wantsProjectOptions) throw projectOptionsUnusable(`the virtualenv ${venv}`);
      return venvSource(await virtualEnvLocation(resolve(cwd, venv), cwd), projectDir, cwd);
    }

    const hasUvLock = (await readIfExists(join(projectDir, 'uv.lock'))) !== null;
    throw new PipcacheError(
      'E_USAGE',
      `nothing to export in ${projectDir}: looked for pylock.toml, requirements.txt, pyproject.toml and an active virtualenv; pass -r FILE, SPEC or --all`,
      hasUvLock ? { hint: 'uv.lock is not read; `uv export --format pylock.toml -o pylock.toml` writes a lock file pipcache uses' } : {},
    );
  }
}
