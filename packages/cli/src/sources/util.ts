import { readFile } from 'node:fs/promises';
import { isAbsolute, relative } from 'node:path';
import { parse as parseTomlText, TomlError } from 'smol-toml';
import { PipcacheError } from '@pipcache/shared';

/** The file's text, or null when it does not exist (or is not a file). */
export async function readIfExists(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException | null)?.code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return null;
    const why = err instanceof Error ? err.message : String(err);
    throw new PipcacheError('E_BAD_REQUEST', `cannot read ${path}: ${why}`, { cause: err });
  }
}

export type TomlTable = Record<string, unknown>;

/** Parses TOML; a syntax error becomes E_BAD_REQUEST "<file>:<line>:<col>: <why>". */
export function parseToml(text: string, file: string): TomlTable {
  try {
    return parseTomlText(text) as TomlTable;
  } catch (err) {
    if (err instanceof TomlError) {
      const why = (err.message.split('\n')[0] ?? '').replace(/^Invalid TOML document:\s*/, '');
      throw new PipcacheError('E_BAD_REQUEST', `${file}:${err.line}:${err.column}: invalid TOML: ${why}`, { cause: err });
    }
    throw err;
  }
}

export function isTable(v: unknown): v is TomlTable {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** `path` relative to `cwd` when inside it ('.' for cwd itself), else absolute. */
export function displayPath(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  if (rel === '') return '.';
  if (rel.startsWith('..') || isAbsolute(rel)) return path;
  return rel;
}

/** POSIX-shell quoting: bare when safe, else single quotes. */
export function shellQuote(s: string): string {
  if (/^[A-Za-z0-9_\/.,:=@%+-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function pipInstall(dir: string, args: string[]): string {
  return ['pip install --no-index --find-links', shellQuote(dir), ...args].join(' ');
}

/** At most this many pins are spelled out in an install command. */
export const MAX_INLINE_PINS = 10;

/**
 * Install command for an exact set of pins: `-r requirements.txt` when the
 * project has one, else the pins themselves when few, else `tooMany(dir)`.
 */
export function pinnedInstallCommand(
  pins: string[],
  requirementsTxt: string | null,
  tooMany: (dir: string) => string,
): (dir: string) => string {
  if (requirementsTxt !== null) return (dir) => pipInstall(dir, ['-r', shellQuote(requirementsTxt)]);
  if (pins.length <= MAX_INLINE_PINS) return (dir) => pipInstall(dir, pins.map(shellQuote));
  return tooMany;
}
