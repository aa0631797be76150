/**
 * pip requirements files (`-r` / `-c`).
 *
 * Line handling follows pip's `req_file.py`: join `\` continuations, strip
 * comments (`#` at the start or after whitespace), expand `${VAR}` (upper
 * case, digits, `_`; unset variables are left as written), then split each
 * line into the requirement part (tokens before the first one starting with
 * `-`) and its options.
 *
 * Files are read through a function the caller passes, so that this module
 * does no I/O of its own (the CLI passes fs.readFile, snapshot sources a
 * reader of their own).
 */
import { dirname, isAbsolute, join, normalize } from 'node:path';
import { PipcacheError } from '@pipcache/shared';
import { parseRequirementLine, type Requirement } from './pep508.js';

export interface RequirementsFile {
  requirements: Requirement[];
  constraints: Requirement[];
  editables: { line: string; source: string }[];
  unsupported: { line: string; source: string; reason: string }[];
  /** `--pre` appeared in some file. */
  pre: boolean;
}

function fail(source: string, why: string): PipcacheError {
  return new PipcacheError('E_BAD_REQUEST', `${source}: ${why}`);
}

const COMMENT_RE = /(^|\s+)#.*$/;
const ENV_VAR_RE = /\$\{([A-Z0-9_]+)\}/g;

interface Line {
  lineNo: number;
  text: string;
}

/** pip's join_lines + ignore_comments + expand_env_variables. */
function preprocess(content: string, env: RequirementsEnv): Line[] {
  const raw = content.replace(/^\uFEFF/, '').split(/\r\n|\n|\r/);
  const joined: Line[] = [];
  let pending: string[] = [];
  let pendingNo = 0;
  raw.forEach((line, idx) => {
    const lineNo = idx + 1;
    const isComment = COMMENT_RE.test(line) && /^\s*#/.test(line);
    if (!line.endsWith('\\') || isComment) {
      if (isComment) line = ' ' + line;
      if (pending.length > 0) {
        pending.push(line);
        joined.push({ lineNo: pendingNo, text: pending.join('') });
        pending = [];
      } else {
        joined.push({ lineNo, text: line });
      }
    } else {
      if (pending.length === 0) pendingNo = lineNo;
      pending.push(line.replace(/\\+$/, ''));
    }
  });
  if (pending.length > 0) joined.push({ lineNo: pendingNo, text: pending.join('') });

  const out: Line[] = [];
  for (const { lineNo, text } of joined) {
    const stripped = text.replace(COMMENT_RE, '').trim();
    if (stripped.length === 0) continue;
    out.push({ lineNo, text: stripped.replace(ENV_VAR_RE, (whole, name: string) => env[name] ?? whole) });
  }
  return out;
}

/** Minimal POSIX-shell-like split (what pip's shlex.split does for option text). */
function shellSplit(text: string, source: string): string[] {
  const out: string[] = [];
  let cur = '';
  let have = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) throw fail(source, `unterminated quote in '${text}'`);
      cur += text.slice(i + 1, end);
      have = true;
      i = end;
    } else if (c === '\\' && i + 1 < text.length) {
      cur += text[i + 1];
      have = true;
      i++;
    } else if (/\s/.test(c)) {
      if (have) out.push(cur);
      cur = '';
      have = false;
    } else {
      cur += c;
      have = true;
    }
  }
  if (have) out.push(cur);
  return out;
}

/** pip's break_args_options: requirement tokens until the first one starting with '-'. */
function breakArgsOptions(line: string): { args: string; options: string } {
  const tokens = line.split(' ');
  const idx = tokens.findIndex((t) => t.startsWith('-'));
  if (idx < 0) return { args: line, options: '' };
  return { args: tokens.slice(0, idx).join(' '), options: tokens.slice(idx).join(' ') };
}

type OptionName =
  | 'requirement'
  | 'constraint'
  | 'editable'
  | 'index-url'
  | 'extra-index-url'
  | 'no-index'
  | 'find-links'
  | 'pre'
  | 'no-binary'
  | 'only-binary'
  | 'prefer-binary'
  | 'trusted-host'
  | 'require-hashes'
  | 'use-feature'
  | 'hash'
  | 'config-settings'
  | 'global-option'
  | 'install-option';

/** [canonical name, takes a value]. */
const LONG_OPTIONS: Readonly<Record<string, [OptionName, boolean]>> = {
  '--requirement': ['requirement', true],
  '--constraint': ['constraint', true],
  '--editable': ['editable', true],
  '--index-url': ['index-url', true],
  '--extra-index-url': ['extra-index-url', true],
  '--no-index': ['no-index', false],
  '--find-links': ['find-links', true],
  '--pre': ['pre', false],
  '--no-binary': ['no-binary', true],
  '--only-binary': ['only-binary', true],
  '--prefer-binary': ['prefer-binary', false],
  '--trusted-host': ['trusted-host', true],
  '--require-hashes': ['require-hashes', false],
  '--use-feature': ['use-feature', true],
  '--hash': ['hash', true],
  '--config-settings': ['config-settings', true],
  '--global-option': ['global-option', true],
  '--install-option': ['install-option', true],
};
const SHORT_OPTIONS: Readonly<Record<string, OptionName>> = {
  '-r': 'requirement',
  '-c': 'constraint',
  '-e': 'editable',
  '-i': 'index-url',
  '-f': 'find-links',
  '-C': 'config-settings',
};
const PER_REQUIREMENT: ReadonlySet<OptionName> = new Set(['hash', 'config-settings', 'global-option', 'install-option']);

function parseOptions(text: string, source: string): { name: OptionName; value: string }[] {
  const tokens = shellSplit(text, source);
  const out: { name: OptionName; value: string }[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i] as string;
    let name: OptionName | undefined;
    let takesValue = true;
    let value: string | undefined;
    if (tok.startsWith('--')) {
      const eq = tok.indexOf('=');
      const key = eq < 0 ? tok : tok.slice(0, eq);
      const spec = LONG_OPTIONS[key];
      if (spec === undefined) throw fail(source, `unknown option '${key}'`);
      [name, takesValue] = spec;
      if (eq >= 0) {
        if (!takesValue) throw fail(source, `option '${key}' takes no value`);
        value = tok.slice(eq + 1);
      }
    } else if (tok.startsWith('-') && tok.length >= 2) {
      const key = tok.slice(0, 2);
      name = SHORT_OPTIONS[key];
      if (name === undefined) throw fail(source, `unknown option '${key}'`);
      if (tok.length > 2) value = tok.slice(2);
    } else {
      throw fail(source, `unexpected '${tok}' after options (a requirement must come before its options)`);
    }
    if (takesValue && value === undefined) {
      value = tokens[++i];
      if (value === undefined) throw fail(source, `option '${tok}' needs a value`);
    }
    out.push({ name, value: value ?? '' });
  }
  return out;
}

const HASH_RE = /^(sha256|sha384|sha512):([0-9a-fA-F]+)$/;
const HASH_HEX_LEN: Readonly<Record<string, number>> = { sha256: 64, sha384: 96, sha512: 128 };
const URL_RE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;
const VCS_RE = /^(git|hg|svn|bzr)\+/i;
const ARCHIVE_RE = /\.(whl|tar\.gz|tgz|tar\.bz2|tbz|tar\.xz|txz|tar|zip)$/i;
const NAME_AT_URL_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*\s*(\[[^\]]*\])?\s*@/;

/** Why pip would treat `arg` as a URL or a local path rather than a PEP 508 requirement (null = it is one). */
function notARequirement(arg: string): string | null {
  if (NAME_AT_URL_RE.test(arg)) return null;
  const head = arg.split(/\s;|;\s|;$/)[0]?.trim() ?? arg;
  if (URL_RE.test(head) || VCS_RE.test(head)) {
    return 'bare URL: pip installs it from the URL, not from a find-links directory; use `name @ url` or pin a version';
  }
  if (head.includes('/') || head.includes('\\') || head.startsWith('.') || ARCHIVE_RE.test(head)) {
    return 'local path: pip installs it from the path, not from a find-links directory';
  }
  return null;
}

/** Reads a file as UTF-8 text; rejects with the error's `code` ('ENOENT', ...) as node:fs does. */
export type ReadTextFile = (path: string) => Promise<string>;

/** Variables for `${VAR}` expansion. */
export type RequirementsEnv = Readonly<Record<string, string | undefined>>;

export interface ReadRequirementsOptions {
  /** Environment for `${VAR}` expansion; none set when absent (callers pass process.env). */
  env?: RequirementsEnv;
}

/**
 * Reads a pip requirements file and everything it includes, each through
 * `readFile`. Nested `-r` / `-c` paths are relative to the including file.
 * Throws E_BAD_REQUEST "<file>:<line>: <why>" for a line that does not parse
 * or an include cycle, E_NOT_FOUND when `readFile` rejects with ENOENT.
 */
export async function readRequirementsFile(
  path: string,
  readFile: ReadTextFile,
  options: ReadRequirementsOptions = {},
): Promise<RequirementsFile> {
  const env = options.env ?? {};
  const result: RequirementsFile = { requirements: [], constraints: [], editables: [], unsupported: [], pre: false };

  async function load(file: string, includedFrom: string | null): Promise<string> {
    try {
      return await readFile(file);
    } catch (err) {
      const code = (err as { code?: unknown } | null)?.code;
      const where = includedFrom === null ? '' : `${includedFrom}: `;
      if (code === 'ENOENT') {
        throw new PipcacheError('E_NOT_FOUND', `${where}requirements file '${file}' does not exist`, { cause: err });
      }
      const why = err instanceof Error ? err.message : String(err);
      throw new PipcacheError('E_BAD_REQUEST', `${where}cannot read requirements file '${file}': ${why}`, { cause: err });
    }
  }

  async function walk(file: string, asConstraint: boolean, stack: string[], includedFrom: string | null): Promise<void> {
    const content = await load(file, includedFrom);
    for (const { lineNo, text } of preprocess(content, env)) {
      const source = `${file}:${lineNo}`;
      const { args, options } = breakArgsOptions(text);
      const opts = parseOptions(options, source);

      if (args.length > 0) {
        const global = opts.find((o) => !PER_REQUIREMENT.has(o.name));
        if (global !== undefined) throw fail(source, `option '--${global.name}' cannot follow a requirement`);
        const why = notARequirement(args);
        if (why !== null) {
          result.unsupported.push({ line: text, source, reason: why });
          continue;
        }
        const req = parseRequirementLine(args, source);
        for (const o of opts) {
          if (o.name !== 'hash') continue;
          const m = HASH_RE.exec(o.value);
          if (m === null || (m[2] as string).length !== HASH_HEX_LEN[m[1] as string]) {
            throw fail(source, `invalid --hash '${o.value}' (expected sha256:<64 hex digits>, sha384:... or sha512:...)`);
          }
          req.hashes.push(`${m[1]}:${(m[2] as string).toLowerCase()}`);
        }
        (asConstraint ? result.constraints : result.requirements).push(req);
        continue;
      }

      for (const o of opts) {
        switch (o.name) {
          case 'requirement':
          case 'constraint': {
            if (URL_RE.test(o.value)) {
              result.unsupported.push({ line: text, source, reason: 'remote requirements files are not supported' });
              break;
            }
            const nested = isAbsolute(o.value) ? o.value : join(dirname(file), o.value);
            if (stack.includes(nested) || nested === file) {
              const chain = [...stack, file, nested].join(' -> ');
              throw fail(source, `'${o.value}' includes itself recursively (${chain})`);
            }
            // pip: -r keeps requirements as requirements, -c makes everything below constraints.
            await walk(nested, o.name === 'constraint', [...stack, file], source);
            break;
          }
          case 'editable':
            result.editables.push({ line: text, source });
            break;
          case 'pre':
            result.pre = true;
            break;
          case 'hash':
          case 'config-settings':
          case 'global-option':
          case 'install-option':
            throw fail(source, `option '--${o.name}' must follow a requirement on the same line`);
          default:
            // Index, binary and trust options do not change what must be exported.
            break;
        }
      }
    }
  }

  await walk(normalize(path), false, [], null);
  return result;
}
