import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The map in ARCHITECTURE.md, checked: which room of the daemon may import
 * which, and what the CLI and the packaging package may depend on.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DAEMON = join(ROOT, 'packages/daemon/src');

/** Room -> the rooms it may import. `.` is the daemon's top level (wiring, main). */
const MAY_IMPORT: Record<string, readonly string[]> = {
  '.': ['control', 'export', 'import', 'proxy', 'files', 'pages', 'upstream', 'store', 'archive', 'simple', 'tls', 'log', 'metrics', 'team'],
  control: ['export', 'import', 'proxy', 'files', 'pages', 'upstream', 'store'],
  proxy: ['files', 'pages', 'upstream', 'store', 'simple', 'tls'],
  metrics: [],
  export: ['files', 'pages', 'upstream', 'store', 'archive'],
  import: ['store', 'archive'],
  files: ['pages', 'upstream', 'store'],
  pages: ['upstream', 'store', 'simple'],
  upstream: [],
  team: ['files', 'pages'],
  store: ['simple'],
  simple: [],
  archive: [],
  tls: [],
  log: [],
};

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.endsWith('.contract.ts')) out.push(path);
  }
  return out;
}

/** Module specifiers of static and dynamic imports and re-exports. */
function specifiers(path: string): string[] {
  const text = readFileSync(path, 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)/g)) found.push((m[1] ?? m[2]) as string);
  return found;
}

function roomOf(file: string): string {
  const rel = relative(DAEMON, file);
  return rel.includes('/') ? (rel.split('/')[0] as string) : '.';
}

describe('the daemon rooms import only what the map allows', () => {
  const files = sources(DAEMON);

  it('knows every room', () => {
    const rooms = new Set(files.map(roomOf));
    expect([...rooms].filter((r) => !(r in MAY_IMPORT)), 'a room missing from the map (and ARCHITECTURE.md)').toEqual([]);
  });

  it('has no import that climbs back up or sideways', () => {
    const wrong: string[] = [];
    for (const file of files) {
      const from = roomOf(file);
      for (const spec of specifiers(file)) {
        if (!spec.startsWith('.')) continue;
        const to = roomOf(resolve(dirname(file), spec));
        if (to === from) continue;
        if (to === '.' || !(MAY_IMPORT[from] ?? []).includes(to)) wrong.push(`${relative(DAEMON, file)} -> ${spec}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});

describe('packages depend in one direction', () => {
  it('the CLI uses no daemon internals', () => {
    const wrong = sources(join(ROOT, 'packages/cli/src')).flatMap((f) =>
      specifiers(f)
        .filter((s) => s.startsWith('@pipcache/daemon/'))
        .map((s) => `${relative(ROOT, f)} -> ${s}`),
    );
    expect(wrong).toEqual([]);
  });

  it('the packaging standards are pure: no I/O, no daemon, no CLI', () => {
    // Pure libraries only: PEP 440 versions, a TOML parser, and path arithmetic (no file is opened).
    const pure = new Set(['@pipcache/shared', 'smol-toml', 'node:path']);
    const allowed = (s: string): boolean => s.startsWith('.') || pure.has(s) || s.startsWith('@renovatebot/pep440');
    const wrong = sources(join(ROOT, 'packages/pep/src')).flatMap((f) =>
      specifiers(f)
        .filter((s) => !allowed(s))
        .map((s) => `${relative(ROOT, f)} -> ${s}`),
    );
    expect(wrong).toEqual([]);
  });

  it('shared depends on no other package of the workspace', () => {
    const wrong = sources(join(ROOT, 'packages/shared/src')).flatMap((f) =>
      specifiers(f)
        .filter((s) => s.startsWith('@pipcache/'))
        .map((s) => `${relative(ROOT, f)} -> ${s}`),
    );
    expect(wrong).toEqual([]);
  });
});
