import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * pip's configuration files, read the way pip reads them, without starting
 * Python: `env` must answer at shell speed.
 */

export type ConfigKind = 'global' | 'user' | 'site' | 'env';

export interface ConfigEntry {
  file: string;
  kind: ConfigKind;
  section: string;
  /** Normalized as pip does: lower case, `_` written `-`. */
  key: string;
  value: string;
}

export interface ConfigFile {
  file: string;
  kind: ConfigKind;
}

/** Where a setting pip will use came from. */
export interface Setting {
  value: string;
  /** `PIP_CERT` (an environment variable) or `/etc/pip.conf [global]`. */
  source: string;
  entry?: ConfigEntry;
}

/**
 * The files pip loads, lowest priority first (global, user, site, then
 * PIP_CONFIG_FILE). `prefix` is the interpreter's sys.prefix: its pip.conf is
 * the "site" file. PIP_CONFIG_FILE=/dev/null turns all files off, and an
 * existing PIP_CONFIG_FILE turns the user files off, as in pip.
 */
export function pipConfigFiles(env: NodeJS.ProcessEnv, prefix: string | undefined): ConfigFile[] {
  const envFile = env.PIP_CONFIG_FILE;
  if (envFile === '/dev/null') return [];
  const home = env.HOME || homedir();
  const xdgDirs = (env.XDG_CONFIG_DIRS || '/etc/xdg').split(':').filter(Boolean);
  const files: ConfigFile[] = [
    ...xdgDirs.map((dir) => ({ file: join(dir, 'pip', 'pip.conf'), kind: 'global' as const })),
    { file: '/etc/pip.conf', kind: 'global' },
  ];
  if (!(envFile && existsSync(envFile))) {
    files.push({ file: join(home, '.pip', 'pip.conf'), kind: 'user' });
    if (process.platform === 'darwin') files.push({ file: join(home, 'Library', 'Application Support', 'pip', 'pip.conf'), kind: 'user' });
    files.push({ file: join(env.XDG_CONFIG_HOME || join(home, '.config'), 'pip', 'pip.conf'), kind: 'user' });
  }
  if (prefix) files.push({ file: join(prefix, 'pip.conf'), kind: 'site' });
  if (envFile) files.push({ file: envFile, kind: 'env' });
  return files;
}

/** Python's RawConfigParser, as far as pip.conf files use it: sections, `=` or `:`, comments, continuation lines. */
export function parseIni(text: string): { section: string; key: string; value: string }[] {
  const out: { section: string; key: string; value: string }[] = [];
  let section: string | null = null;
  let last: { section: string; key: string; value: string } | null = null;
  for (const raw of text.split(/\r?\n/)) {
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) continue;
    if (/^\s/.test(raw) && last) {
      last.value = last.value ? `${last.value}\n${trimmed}` : trimmed;
      continue;
    }
    const header = /^\[(.+)\]$/.exec(trimmed);
    if (header) {
      section = header[1] ?? null;
      last = null;
      continue;
    }
    const at = trimmed.search(/[=:]/);
    if (section === null || at <= 0) continue;
    last = { section, key: trimmed.slice(0, at).trim().toLowerCase().replace(/_/g, '-'), value: trimmed.slice(at + 1).trim() };
    out.push(last);
  }
  return out;
}

/** Every setting in every file pip would load, in pip's override order. */
export function readPipConfig(env: NodeJS.ProcessEnv, prefix: string | undefined): ConfigEntry[] {
  const entries: ConfigEntry[] = [];
  for (const { file, kind } of pipConfigFiles(env, prefix)) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const e of parseIni(text)) entries.push({ file, kind, ...e });
  }
  return entries;
}

/** The environment variable pip reads for an option: `cert` -> `PIP_CERT`. */
export function pipEnvName(key: string): string {
  return `PIP_${key.toUpperCase().replace(/-/g, '_')}`;
}

/**
 * The value pip uses for `key` when running `command`: a PIP_ variable beats
 * every file, the command's section beats [global], a later file beats an
 * earlier one.
 */
export function pipSetting(entries: readonly ConfigEntry[], env: NodeJS.ProcessEnv, key: string, command = 'install'): Setting | null {
  const envName = pipEnvName(key);
  const fromEnv = env[envName];
  if (fromEnv !== undefined) return { value: fromEnv, source: envName };
  for (const section of [command, 'global']) {
    const found = entries.filter((e) => e.section === section && e.key === key).at(-1);
    if (found) return { value: found.value, source: `${found.file} [${found.section}]`, entry: found };
  }
  return null;
}
