/**
 * What the service commands need from the machine, injected so that the
 * decisions (verify, enable, or print the commands and why) are testable
 * without a service manager.
 */
import { spawnSync } from 'node:child_process';

export interface CommandResult {
  /** Exit status; null when the command could not run or was killed. */
  code: number | null;
  stdout: string;
  stderr: string;
  /** The program is not installed. */
  missing: boolean;
}

export type RunCommand = (cmd: string, args: readonly string[]) => CommandResult;

export type ServicePlatform = 'linux' | 'darwin';

export interface ServiceHost {
  platform: ServicePlatform;
  /** The user's home directory (units and agents live under it). */
  homeDir: string;
  env: NodeJS.ProcessEnv;
  uid: number;
  runCommand: RunCommand;
}

/** A service manager command must not hang the CLI: systemctl can wait on a bus for a long time. */
const COMMAND_TIMEOUT_MS = 30_000;

export function runCommand(cmd: string, args: readonly string[]): CommandResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] });
  const missing = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
  const stderr = r.error && !missing ? `${r.stderr ?? ''}${r.error.message}` : (r.stderr ?? '');
  return { code: r.status, stdout: r.stdout ?? '', stderr, missing };
}

/** First non-empty line of a command's complaint, for a one-line reason. */
export function firstLine(r: CommandResult): string {
  return (
    `${r.stderr}\n${r.stdout}`
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l !== '') ?? `exit code ${r.code}`
  );
}

/** Quotes a word for a POSIX shell when it needs it, so printed commands can be pasted. */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export const shellLine = (words: readonly string[]): string => words.map(shellWord).join(' ');
