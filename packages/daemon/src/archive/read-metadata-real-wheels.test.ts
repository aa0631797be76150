/**
 * The core metadata reader against real published wheels, unchanged: every
 * wheel in the machine's local index (`/opt/pypi/files`, the index these
 * machines' pip configuration names) is read here and by Python's email
 * parser, the way pip and packaging read it, and the two must agree.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { normalizeName } from '@pipcache/pep';
import { readWheelMetadata } from './read-metadata.js';

const REAL_WHEELS = '/opt/pypi/files';

/** Reads each wheel's METADATA with email.parser (compat32, as packaging does); one JSON object per wheel. */
const PY_READ = String.raw`
import email.parser, json, os, re, sys, zipfile
def norm(n): return re.sub(r"[-_.]+", "-", n).lower()
out = {}
for path in sys.argv[1:]:
    with zipfile.ZipFile(path) as zf:
        names = [n for n in zf.namelist() if re.match(r"^[^/]+\.dist-info/METADATA$", n)]
        project = norm(os.path.basename(path).split("-")[0])
        name = next((n for n in names if norm(n.split("-")[0]) == project), names[0])
        msg = email.parser.Parser().parsestr(zf.read(name).decode("utf-8"))
    out[os.path.basename(path)] = {
        "name": msg["Name"], "version": msg["Version"],
        "requiresDist": [r for r in (msg.get_all("Requires-Dist") or []) if r.strip()],
        "requiresPython": msg["Requires-Python"],
        "providesExtra": [e for e in (msg.get_all("Provides-Extra") or []) if e.strip()],
    }
json.dump(out, sys.stdout)
`;

interface PyRead {
  name: string;
  version: string;
  requiresDist: string[];
  requiresPython: string | null;
  providesExtra: string[];
}

const squash = (s: string): string => s.replace(/\s+/g, ' ').trim();

describe('readWheelMetadata on real published wheels', () => {
  it('reads what Python reads from every wheel in the local index', async () => {
    if (!existsSync(REAL_WHEELS)) throw new Error(`${REAL_WHEELS} is missing: this test reads the real wheels held there`);
    const wheels = readdirSync(REAL_WHEELS)
      .filter((f) => f.endsWith('.whl'))
      .sort()
      .map((f) => join(REAL_WHEELS, f));
    expect(wheels.length, `expected hundreds of wheels in ${REAL_WHEELS}`).toBeGreaterThan(200);
    const { stdout } = await promisify(execFile)('python3', ['-c', PY_READ, ...wheels], { maxBuffer: 256 * 1024 * 1024, timeout: 300_000 });
    const expected = JSON.parse(stdout) as Record<string, PyRead>;
    const mismatches: string[] = [];
    const check = async (path: string): Promise<void> => {
      const filename = path.slice(REAL_WHEELS.length + 1);
      const want = expected[filename] as PyRead;
      const got = await readWheelMetadata(path);
      const same =
        got.name === want.name &&
        got.version === want.version &&
        (got.requiresPython ?? null) === (want.requiresPython === null ? null : want.requiresPython.trim() || null) &&
        JSON.stringify(got.requiresDist.map(squash)) === JSON.stringify(want.requiresDist.map(squash)) &&
        JSON.stringify(got.providesExtra) === JSON.stringify([...new Set(want.providesExtra.map((e) => normalizeName(e.trim())))]);
      if (!same) mismatches.push(`${filename}: got ${JSON.stringify(got)}, Python reads ${JSON.stringify(want)}`);
    };
    // A few at a time: wheels with tens of thousands of entries take a while to list.
    const queue = [...wheels];
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        for (let next = queue.shift(); next !== undefined; next = queue.shift()) await check(next);
      }),
    );
    expect(mismatches).toEqual([]);
  });

  it('keeps the Requires-Dist of pandas 3.0 that follow its folded License', async () => {
    const pandas = readdirSync(REAL_WHEELS).find((f) => /^pandas-3\.0\.\d+-cp311-.*\.whl$/.test(f));
    if (pandas === undefined) throw new Error(`no pandas 3.0.x cp311 wheel in ${REAL_WHEELS}`);
    const md = await readWheelMetadata(join(REAL_WHEELS, pandas));
    expect(md.requiresDist.some((r) => /^numpy>=1\.26\.0/.test(r))).toBe(true);
    expect(md.requiresDist.some((r) => r.startsWith('python-dateutil'))).toBe(true);
  });
});
