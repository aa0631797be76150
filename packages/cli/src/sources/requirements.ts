import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { readRequirementsFile } from '@pipcache/pep';
import { displayPath, pipInstall, readIfExists, shellQuote } from './util.js';
import type { SnapshotSource } from './types.js';

/** `requirements.txt` in the project directory, or null when there is none. */
export async function requirementsSource(
  projectDir: string,
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<SnapshotSource | null> {
  const abs = join(projectDir, 'requirements.txt');
  const text = await readIfExists(abs);
  if (text === null) return null;
  const shown = displayPath(abs, cwd);
  // Read through the parser with the display path so its "file:line" messages match what the user sees.
  const parsed = await readRequirementsFile(shown, (p) => readNested(p, shown, text, cwd), { env });
  const notes: string[] = [];
  for (const e of parsed.editables) notes.push(`skipped editable '${e.line}' (${e.source}): export does not include editable installs`);
  for (const u of parsed.unsupported) notes.push(`skipped '${u.line}' (${u.source}): ${u.reason}`);
  if (parsed.requirements.length === 0) notes.push(`${shown} lists no requirements`);
  return {
    kind: 'requirements',
    path: shown,
    roots: parsed.requirements.map((r) => ({ text: r.text, source: r.source })),
    constraints: parsed.constraints.map((r) => ({ text: r.text, source: r.source })),
    pre: parsed.pre,
    exact: false,
    installCommand: (dir) => pipInstall(dir, ['-r', shellQuote(shown)]),
    notes,
  };
}

/** Serves the already-read top file; nested `-r` / `-c` paths are relative to `cwd` like the display path. */
async function readNested(p: string, shown: string, first: string, cwd: string): Promise<string> {
  return p === shown ? first : readFile(resolve(cwd, p), 'utf8');
}
