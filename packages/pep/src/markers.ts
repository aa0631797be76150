/**
 * PEP 508 environment markers: parse and evaluate (the environment of a
 * target comes from marker-env.ts).
 *
 * Evaluation follows `packaging.markers` (26.x): on python_version,
 * python_full_version, implementation_version and platform_release, a
 * version operator whose right side forms a valid specifier is a PEP 440
 * comparison (pre-releases allowed); anything else is a string comparison
 * where `<` / `>` are false and `<=` / `>=` mean equality. Comparisons on
 * `extra` normalize both sides (PEP 685).
 */
import { satisfies as pep440Satisfies, valid as pep440Valid } from '@renovatebot/pep440';
import { validRange } from '@renovatebot/pep440/lib/specifier.js';
import { PipcacheError } from '@pipcache/shared';
import { normalizeName } from './names.js';

export interface MarkerEnv {
  python_version: string;
  python_full_version: string;
  os_name: string;
  sys_platform: string;
  platform_system: string;
  platform_machine: string;
  platform_release: string;
  platform_version: string;
  platform_python_implementation: string;
  implementation_name: string;
  implementation_version: string;
  /** The extra being evaluated; absent or '' = no extra. */
  extra?: string;
}

export type MarkerVariable = keyof MarkerEnv;

export type MarkerOp = '<' | '<=' | '==' | '!=' | '>=' | '>' | '~=' | '===' | 'in' | 'not in';

export type MarkerValue = { kind: 'var'; name: MarkerVariable } | { kind: 'str'; value: string };

export type Marker =
  | { kind: 'and' | 'or'; left: Marker; right: Marker }
  | { kind: 'compare'; left: MarkerValue; op: MarkerOp; right: MarkerValue };

const VARIABLES: ReadonlySet<string> = new Set<MarkerVariable>([
  'python_version',
  'python_full_version',
  'os_name',
  'sys_platform',
  'platform_system',
  'platform_machine',
  'platform_release',
  'platform_version',
  'platform_python_implementation',
  'implementation_name',
  'implementation_version',
  'extra',
]);

/** Legacy (PEP 345 / setuptools) spellings that `packaging` still accepts. */
const ALIASES: Readonly<Record<string, MarkerVariable>> = {
  'os.name': 'os_name',
  'sys.platform': 'sys_platform',
  'platform.version': 'platform_version',
  'platform.machine': 'platform_machine',
  'platform.python_implementation': 'platform_python_implementation',
  python_implementation: 'platform_python_implementation',
};

const VERSION_OPS: ReadonlySet<string> = new Set(['<', '<=', '==', '!=', '>=', '>', '~=', '===']);
/** packaging's MARKERS_REQUIRING_VERSION: only these compare as PEP 440 versions. */
const VERSION_KEYS: ReadonlySet<MarkerVariable> = new Set<MarkerVariable>([
  'python_version',
  'python_full_version',
  'implementation_version',
  'platform_release',
]);

type Token =
  | { t: 'str'; v: string; pos: number }
  | { t: 'ident'; v: string; pos: number }
  | { t: 'op'; v: string; pos: number }
  | { t: '(' | ')'; pos: number };

function bad(text: string, why: string): PipcacheError {
  return new PipcacheError('E_BAD_REQUEST', `invalid marker '${text}': ${why}`);
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f') {
      i++;
    } else if (c === '(' || c === ')') {
      tokens.push({ t: c, pos: i });
      i++;
    } else if (c === '"' || c === "'") {
      const end = text.indexOf(c, i + 1);
      if (end < 0) throw bad(text, `unterminated string at column ${i + 1}`);
      tokens.push({ t: 'str', v: text.slice(i + 1, end), pos: i });
      i = end + 1;
    } else if (/[<>=!~]/.test(c)) {
      const m = /^(===|==|!=|<=|>=|~=|<|>)/.exec(text.slice(i));
      if (m === null) throw bad(text, `unexpected '${c}' at column ${i + 1}`);
      tokens.push({ t: 'op', v: m[1] as string, pos: i });
      i += (m[1] as string).length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(text.slice(i)) as RegExpExecArray;
      tokens.push({ t: 'ident', v: m[0], pos: i });
      i += m[0].length;
    } else {
      throw bad(text, `unexpected '${c}' at column ${i + 1}`);
    }
  }
  return tokens;
}

class Parser {
  private i = 0;
  constructor(
    private readonly text: string,
    private readonly tokens: Token[],
  ) {}

  parse(): Marker {
    if (this.tokens.length === 0) throw bad(this.text, 'empty marker');
    const m = this.parseOr();
    const rest = this.tokens[this.i];
    if (rest !== undefined) throw bad(this.text, `unexpected ${describe(rest)} at column ${rest.pos + 1}`);
    return m;
  }

  private peekIdent(word: string): boolean {
    const t = this.tokens[this.i];
    return t !== undefined && t.t === 'ident' && t.v === word;
  }

  private parseOr(): Marker {
    let left = this.parseAnd();
    while (this.peekIdent('or')) {
      this.i++;
      left = { kind: 'or', left, right: this.parseAnd() };
    }
    return left;
  }

  private parseAnd(): Marker {
    let left = this.parseAtom();
    while (this.peekIdent('and')) {
      this.i++;
      left = { kind: 'and', left, right: this.parseAtom() };
    }
    return left;
  }

  private parseAtom(): Marker {
    const t = this.tokens[this.i];
    if (t === undefined) throw bad(this.text, 'unexpected end of marker');
    if (t.t === '(') {
      this.i++;
      const inner = this.parseOr();
      const close = this.tokens[this.i];
      if (close === undefined || close.t !== ')') throw bad(this.text, "missing ')'");
      this.i++;
      return inner;
    }
    const left = this.parseValue();
    const op = this.parseOp();
    const right = this.parseValue();
    if (left.kind === 'str' && right.kind === 'str') {
      // packaging accepts this, but it is always a mistake in practice.
      throw bad(this.text, 'a comparison needs at least one marker variable');
    }
    return { kind: 'compare', left, op, right };
  }

  private parseValue(): MarkerValue {
    const t = this.tokens[this.i];
    if (t === undefined) throw bad(this.text, 'unexpected end of marker');
    if (t.t === 'str') {
      this.i++;
      return { kind: 'str', value: t.v };
    }
    if (t.t === 'ident') {
      const name = ALIASES[t.v] ?? (VARIABLES.has(t.v) ? (t.v as MarkerVariable) : undefined);
      if (name === undefined) throw bad(this.text, `unknown marker variable '${t.v}'`);
      this.i++;
      return { kind: 'var', name };
    }
    throw bad(this.text, `expected a marker variable or a quoted string at column ${t.pos + 1}, got ${describe(t)}`);
  }

  private parseOp(): MarkerOp {
    const t = this.tokens[this.i];
    if (t === undefined) throw bad(this.text, 'expected a comparison operator, got end of marker');
    if (t.t === 'op') {
      this.i++;
      return t.v as MarkerOp;
    }
    if (t.t === 'ident' && t.v === 'in') {
      this.i++;
      return 'in';
    }
    if (t.t === 'ident' && t.v === 'not') {
      const next = this.tokens[this.i + 1];
      if (next !== undefined && next.t === 'ident' && next.v === 'in') {
        this.i += 2;
        return 'not in';
      }
    }
    throw bad(this.text, `expected a comparison operator at column ${t.pos + 1}, got ${describe(t)}`);
  }
}

function describe(t: Token): string {
  switch (t.t) {
    case 'str':
      return `string '${t.v}'`;
    case 'ident':
    case 'op':
      return `'${t.v}'`;
    default:
      return `'${t.t}'`;
  }
}

/** Parses a PEP 508 marker expression. Throws PipcacheError E_BAD_REQUEST on bad syntax. */
export function parseMarker(text: string): Marker {
  return new Parser(text, tokenize(text)).parse();
}

function resolveValue(v: MarkerValue, env: MarkerEnv): string {
  if (v.kind === 'str') return v.value;
  return env[v.name] ?? '';
}

/** String comparison as in packaging 22+: ordering on non-versions is only equality. */
function compareStrings(lhs: string, op: MarkerOp, rhs: string): boolean {
  switch (op) {
    case 'in':
      return rhs.includes(lhs);
    case 'not in':
      return !rhs.includes(lhs);
    case '==':
    case '===':
    case '<=':
    case '>=':
      return lhs === rhs;
    case '!=':
      return lhs !== rhs;
    case '<':
    case '>':
      return false;
    case '~=':
      // packaging raises UndefinedComparison; a marker that cannot be true is false.
      return false;
  }
}

function evalCompare(m: Extract<Marker, { kind: 'compare' }>, env: MarkerEnv): boolean {
  let lhs = resolveValue(m.left, env);
  let rhs = resolveValue(m.right, env);
  if ((m.left.kind === 'var' && m.left.name === 'extra') || (m.right.kind === 'var' && m.right.name === 'extra')) {
    lhs = normalizeName(lhs);
    rhs = normalizeName(rhs);
  }
  const key = m.left.kind === 'var' ? m.left.name : m.right.kind === 'var' ? m.right.name : undefined;
  if (key !== undefined && VERSION_KEYS.has(key) && VERSION_OPS.has(m.op)) {
    const spec = `${m.op}${rhs}`;
    if (validRange(spec)) {
      // packaging: a value that is not a version is contained in no specifier.
      return pep440Valid(lhs) !== null && pep440Satisfies(lhs, spec, { prereleases: true });
    }
  }
  return compareStrings(lhs, m.op, rhs);
}

/** Evaluates a parsed marker in `env`. Never throws. */
export function evaluateMarker(m: Marker, env: MarkerEnv): boolean {
  switch (m.kind) {
    case 'and':
      return evaluateMarker(m.left, env) && evaluateMarker(m.right, env);
    case 'or':
      return evaluateMarker(m.left, env) || evaluateMarker(m.right, env);
    case 'compare':
      return evalCompare(m, env);
  }
}

function valueToString(v: MarkerValue): string {
  if (v.kind === 'var') return v.name;
  return v.value.includes('"') ? `'${v.value}'` : `"${v.value}"`;
}

/** Canonical text of a marker (fully parenthesized where precedence needs it). */
export function markerToString(m: Marker): string {
  if (m.kind === 'compare') return `${valueToString(m.left)} ${m.op} ${valueToString(m.right)}`;
  const side = (s: Marker): string => (s.kind === 'or' && m.kind === 'and' ? `(${markerToString(s)})` : markerToString(s));
  return `${side(m.left)} ${m.kind} ${side(m.right)}`;
}

/** True when the marker mentions the `extra` variable anywhere. */
export function markerUsesExtra(m: Marker): boolean {
  if (m.kind === 'compare') {
    return (m.left.kind === 'var' && m.left.name === 'extra') || (m.right.kind === 'var' && m.right.name === 'extra');
  }
  return markerUsesExtra(m.left) || markerUsesExtra(m.right);
}
