import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { assertOk, run, type RunResult } from './proc.js';

export interface Venv {
  dir: string;
  /** Absolute path of the venv's python executable. */
  pythonPath: string;
  bin: string;
  /** Isolated HOME used for every command run through this venv. */
  home: string;
  /**
   * `<venv>/bin/python -m pip ...args` with ONLY `env` plus the fixed base env
   * (PATH, HOME, PIP_DISABLE_PIP_VERSION_CHECK, PIP_NO_INPUT,
   * PYTHONDONTWRITEBYTECODE; `env` may override these). The parent env is not inherited.
   */
  pip(args: string[], env?: Record<string, string>, timeoutMs?: number): Promise<RunResult>;
  /** `<venv>/bin/python ...args` with the same isolated environment. */
  python(args: string[], env?: Record<string, string>, timeoutMs?: number): Promise<RunResult>;
}

const VENV_CREATE_TIMEOUT_MS = 120_000;
const DEFAULT_PIP_TIMEOUT_MS = 120_000;

/** Creates `dir` as a venv (with pip) using the given interpreter. */
export async function createVenv(dir: string, python = 'python3'): Promise<Venv> {
  const abs = resolve(dir);
  const home = join(abs, '.home');
  await mkdir(home, { recursive: true });
  const bin = join(abs, 'bin');
  const baseEnv = {
    PATH: `${bin}:/usr/bin:/bin`,
    HOME: home,
    PIP_DISABLE_PIP_VERSION_CHECK: '1',
    PIP_NO_INPUT: '1',
    PYTHONDONTWRITEBYTECODE: '1',
  };
  assertOk(
    `${python} -m venv ${abs}`,
    await run(python, ['-m', 'venv', abs], {
      env: creationEnv(),
      timeoutMs: VENV_CREATE_TIMEOUT_MS,
    }),
  );
  const pythonPath = join(bin, 'python');
  const exec = (args: string[], env: Record<string, string> = {}, timeoutMs = DEFAULT_PIP_TIMEOUT_MS) =>
    run(pythonPath, args, { env: { ...baseEnv, ...env }, cwd: abs, timeoutMs });
  return {
    dir: abs,
    pythonPath,
    bin,
    home,
    pip: (args, env, timeoutMs) => exec(['-m', 'pip', ...args], env, timeoutMs),
    python: exec,
  };
}

/**
 * `python3` may be a pyenv shim that needs the parent's PYENV and PATH
 * variables to resolve; pip/Python settings are stripped so they cannot leak
 * into ensurepip.
 */
function creationEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(PIP_|PYTHON)/.test(k)) env[k] = v;
  }
  return env;
}
