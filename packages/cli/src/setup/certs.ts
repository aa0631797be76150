import { readFile, stat } from 'node:fs/promises';

/** The base64 bodies of the PEM certificates in `text`, whitespace removed, so copies compare equal. */
export function pemBodies(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)) {
    out.push((m[1] ?? '').replace(/\s+/g, ''));
  }
  return out;
}

export type BundleCheck =
  | { kind: 'covered' }
  | { kind: 'missing'; missing: number; total: number }
  | { kind: 'unreadable'; reason: string }
  | { kind: 'directory' };

/** Whether every certificate in `file` is also in `bundle`: what a user loses by pointing a variable at the bundle instead. */
export async function coveredBy(file: string, bundle: string): Promise<BundleCheck> {
  try {
    if ((await stat(file)).isDirectory()) return { kind: 'directory' };
    const theirs = pemBodies(await readFile(file, 'utf8'));
    const ours = new Set(pemBodies(await readFile(bundle, 'utf8')));
    const missing = theirs.filter((c) => !ours.has(c)).length;
    return missing === 0 ? { kind: 'covered' } : { kind: 'missing', missing, total: theirs.length };
  } catch (err) {
    return { kind: 'unreadable', reason: (err as Error).message };
  }
}

/** Whether the certificate in `caFile` is among those in `file` (false when either cannot be read). */
export async function holdsCert(file: string, caFile: string): Promise<boolean> {
  try {
    const [ca] = pemBodies(await readFile(caFile, 'utf8'));
    return ca !== undefined && pemBodies(await readFile(file, 'utf8')).includes(ca);
  } catch {
    return false;
  }
}
