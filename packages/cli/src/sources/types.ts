import type { RequirementText } from '@pipcache/shared';

export type { RequirementText };

export interface SnapshotSource {
  kind: 'pylock' | 'requirements' | 'pyproject' | 'venv';
  /** The file or environment it came from, for the message "using <path>" (relative to the cwd when inside it). */
  path: string;
  roots: RequirementText[];
  constraints: RequirementText[];
  pre: boolean;
  /** pylock / venv: exact pins, no resolution of further dependencies needed. */
  exact: boolean;
  /**
   * pyproject: the project itself as pip takes it (absolute directory, with
   * `[extras]`), so proving the export also runs its build backend.
   */
  project?: string;
  /** What to tell the user to run afterwards, with DIR as given (shell-quoted where needed). */
  installCommand: (dir: string) => string;
  /** Things worth telling the user (skipped editables, markers excluded, ...). */
  notes: string[];
}

export interface SnapshotOptions {
  /** The project directory (the CLI passes --project DIR, default the cwd). */
  projectDir: string;
  /** --extra NAME (repeatable). */
  extras: string[];
  /** --all-extras */
  allExtras: boolean;
  /** --group NAME (PEP 735, repeatable). */
  groups: string[];
  /** --from-env PYTHON: read this interpreter's environment (wins over any file). */
  fromEnv?: string;
  /** For VIRTUAL_ENV and ${VAR} expansion in requirements files. */
  env: NodeJS.ProcessEnv;
  /** A lock file named outright (`pipcache pin pylock.dev.toml`): read it instead of looking in the project directory. */
  lockFile?: string;
  /** For honouring pylock markers. */
  target: { pythonVersion: string; markerEnv?: Record<string, string> };
}

/** Side effects that tests replace. */
export interface SnapshotDeps {
  /** Runs `python -c code` and returns its stdout. */
  runPython: (python: string, code: string, timeoutMs: number) => Promise<string>;
  /** Directory that paths in messages and install commands are relative to. */
  cwd: string;
}
