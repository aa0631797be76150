/**
 * A throwaway virtualenv of the target interpreter whose pip sees nothing
 * but the find-links directories it is given: no config file (global,
 * user or site), no PIP_* variable from the caller, `--no-index`. A dry-run
 * install there runs the build backends' hooks as a real install would
 * (PEP 517 `get_requires_for_build_*` for sdists and local projects), so
 * what it reports missing is what a user would miss.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PipcacheError } from '@pipcache/shared';

const VENV_TIMEOUT_MS = 180_000;

export interface DryRunResult {
  ok: boolean;
  /** Requirements pip reported "No matching distribution found for", in order, deduplicated. */
  missing: string[];
  /** pip does not know --dry-run (older than 22.2). */
  unsupported: boolean;
  /** The last lines of pip's output, for a failure that names nothing missing. */
  tail: string;
}

export interface ProofVenv {
  /** `pip install --dry-run --no-index --find-links D... args`, in the throwaway venv. */
  dryRun(findLinks: string[], args: string[], timeoutMs: number): Promise<DryRunResult>;
  /** Where temp files for this proof may go (removed by `dispose`). */
  dir: string;
  dispose(): Promise<void>;
}

/**
 * The environment the venv's pip runs in: the caller's, minus every PIP_*
 * variable (PIP_FIND_LINKS, PIP_INDEX_URL, PIP_CONSTRAINT ... would add
 * sources or pins), minus what points Python elsewhere, with pip's config
 * files switched off (PIP_CONFIG_FILE=/dev/null skips global, user and site
 * files). Build subprocesses inherit it.
 */
export function isolatedPipEnv(base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(base)) {
    if (/^PIP_/i.test(k) || k === 'PYTHONPATH' || k === 'PYTHONHOME' || k === 'PYTHONUSERBASE' || k === 'VIRTUAL_ENV') continue;
    env[k] = v;
  }
  return {
    ...env,
    PIP_CONFIG_FILE: '/dev/null',
    PIP_DISABLE_PIP_VERSION_CHECK: '1',
    PIP_NO_INPUT: '1',
    PIP_NO_CACHE_DIR: '1',
    PYTHONDONTWRITEBYTECODE: '1',
  };
}

/** Reads what pip could not find, from its own output and from build subprocesses' output it echoes. */
export function parseDryRun(code: number, output: string): DryRunResult {
  const missing: string[] = [];
  for (const m of output.matchAll(/No matching distribution found for (.+?)\s*$/gm)) {
    const req = (m[1] as string).trim();
    if (!missing.includes(req)) missing.push(req);
  }
  const lines = output.split('\n').filter((l) => l.trim() !== '');
  return {
    ok: code === 0,
    missing: code === 0 ? [] : missing,
    unsupported: code !== 0 && /no such option: --dry-run/.test(output),
    tail: lines.slice(-15).join('\n'),
  };
}

function exec(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd: string, timeoutMs: number): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, cwd, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const output = `${stdout}\n${stderr}`;
      if (err === null) {
        resolve({ code: 0, output });
        return;
      }
      const timedOut = (err as { killed?: boolean }).killed === true;
      const code = typeof err.code === 'number' ? err.code : -1;
      resolve({ code: code === 0 ? -1 : code, output: timedOut ? `${output}\n(no answer within ${timeoutMs / 1000} s)` : `${output}\n${err.message}` });
    });
  });
}

/** Creates the throwaway venv with `python -m venv` (pip from the interpreter's ensurepip). */
export async function createProofVenv(python: string, env: NodeJS.ProcessEnv = process.env): Promise<ProofVenv> {
  const dir = await mkdtemp(join(tmpdir(), 'pipcache-proof-'));
  const venv = join(dir, 'venv');
  const pipEnv = isolatedPipEnv(env);
  // Keep PATH (and pyenv's variables) so a shim `python3` resolves; drop only what would steer ensurepip.
  const made = await exec(python, ['-m', 'venv', venv], pipEnv, dir, VENV_TIMEOUT_MS);
  if (made.code !== 0) {
    await rm(dir, { recursive: true, force: true });
    throw new PipcacheError('E_EXPORT_UNPROVEN', `cannot create a virtualenv with ${python} to prove the export: ${made.output.trim().split('\n').pop() ?? ''}`, {
      hint: 'install the venv module for that Python, or pass --no-proof',
    });
  }
  const venvPython = join(venv, 'bin', 'python');
  return {
    dir,
    async dryRun(findLinks, args, timeoutMs) {
      const pipArgs = ['-m', 'pip', 'install', '--dry-run', '--no-index', ...findLinks.flatMap((d) => ['--find-links', d]), ...args];
      const r = await exec(venvPython, pipArgs, pipEnv, dir, timeoutMs);
      return parseDryRun(r.code, r.output);
    },
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}
