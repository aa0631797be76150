import { describe, expect, it } from 'vitest';
import { PipcacheError, type ExportedFile } from '@pipcache/shared';
import { isolatedPipEnv, parseDryRun, type DryRunResult } from './dry-run.js';
import { MAX_PROOF_ROUNDS, prove, type ProveDeps } from './prove.js';

/** What pip 23.2 prints when a setuptools 65 backend asks for `wheel` and the directory has none. */
const BACKEND_MISSING_WHEEL = `Looking in links: /tmp/pk
Processing ./proj
  Installing build dependencies: finished with status 'done'
  Getting requirements to build wheel: finished with status 'done'
  Installing backend dependencies: finished with status 'error'
  error: subprocess-exited-with-error

  × pip subprocess to install backend dependencies did not run successfully.
  │ exit code: 1
  ╰─> [3 lines of output]
      Looking in links: /tmp/pk
      ERROR: Could not find a version that satisfies the requirement wheel (from versions: none)
      ERROR: No matching distribution found for wheel
      [end of output]
`;

describe('parseDryRun', () => {
  it('finds what a build subprocess could not find, and what the top level could not', () => {
    expect(parseDryRun(1, BACKEND_MISSING_WHEEL)).toMatchObject({ ok: false, missing: ['wheel'], unsupported: false });
    const top = 'ERROR: Could not find a version that satisfies the requirement numpy>=1.26.0\nERROR: No matching distribution found for numpy>=1.26.0\r\n';
    expect(parseDryRun(1, top).missing).toEqual(['numpy>=1.26.0']);
  });
  it('tells success, an old pip, and a failure that names nothing', () => {
    expect(parseDryRun(0, 'Would install a-1.0')).toMatchObject({ ok: true, missing: [] });
    expect(parseDryRun(2, 'Usage: ...\nno such option: --dry-run\n').unsupported).toBe(true);
    const conflict = parseDryRun(1, 'ERROR: Cannot install a and b because these package versions have conflicting dependencies.\nERROR: ResolutionImpossible');
    expect(conflict.missing).toEqual([]);
    expect(conflict.tail).toContain('ResolutionImpossible');
  });
});

describe('isolatedPipEnv', () => {
  it("drops every pip setting and Python path of the caller and switches pip's config files off", () => {
    const env = isolatedPipEnv({
      PATH: '/usr/bin',
      PYENV_VERSION: '3.11.7',
      PIP_FIND_LINKS: '/opt/wheels',
      PIP_INDEX_URL: 'https://example.invalid/simple',
      PIP_CONSTRAINT: '/etc/c.txt',
      PYTHONPATH: '/elsewhere',
      VIRTUAL_ENV: '/some/venv',
    });
    expect(env).toEqual({
      PATH: '/usr/bin',
      PYENV_VERSION: '3.11.7',
      PIP_CONFIG_FILE: '/dev/null',
      PIP_DISABLE_PIP_VERSION_CHECK: '1',
      PIP_NO_INPUT: '1',
      PIP_NO_CACHE_DIR: '1',
      PYTHONDONTWRITEBYTECODE: '1',
    });
  });
});

const file = (project: string, version: string): ExportedFile => ({
  filename: `${project}-${version}-py3-none-any.whl`,
  project,
  version,
  sha256: '0'.repeat(64),
  size: 10,
  action: 'linked',
  index: 'pypi',
});
const fail = (...missing: string[]): DryRunResult => ({ ok: false, missing, unsupported: false, tail: missing.map((m) => `ERROR: No matching distribution found for ${m}`).join('\n') });
const pass: DryRunResult = { ok: true, missing: [], unsupported: false, tail: '' };

function deps(runs: DryRunResult[], add: ProveDeps['add'], checkOnly = false): ProveDeps & { added: string[][] } {
  const added: string[][] = [];
  return {
    added,
    dryRun: async () => runs.shift() ?? pass,
    add: async (reqs) => {
      added.push(reqs);
      return add(reqs);
    },
    checkOnly,
    findLinks: ['/d'],
    shownDir: './packages',
    command: 'pip install --dry-run --no-index --find-links ./packages .',
  };
}

describe('prove', () => {
  it('adds what pip asks for, round after round, until the dry run resolves', async () => {
    const d = deps([fail('wheel'), fail('editables', 'tomli>=1')], async (reqs) => reqs.map((r) => file(r.replace(/[^a-z].*/, ''), '1.0')));
    const proof = await prove(d);
    expect(proof).toMatchObject({ status: 'proved', rounds: 3 });
    expect(proof.added.map((a) => [a.requirement, a.files.map((f) => f.project)])).toEqual([
      ['wheel', ['wheel']],
      ['editables', ['editables']],
      ['tomli>=1', ['tomli']],
    ]);
    expect(d.added).toEqual([['wheel'], ['editables'], ['tomli>=1']]);
  });
  it('with --check, a proof that needed additions reports them missing', async () => {
    const proof = await prove(deps([fail('wheel')], async () => [file('wheel', '0.40.0')], true));
    expect(proof.status).toBe('missing');
  });
  it('offline, fails naming what the cache lacks', async () => {
    const err = (await prove(
      deps([fail('wheel')], async () => {
        throw new PipcacheError('E_OFFLINE_MISS', 'offline, and the cache lacks 1 requirement(s):\n  wheel: not cached');
      }),
    ).catch((e: unknown) => e)) as PipcacheError;
    expect(err.code).toBe('E_OFFLINE_MISS');
    expect(err.message).toMatch(/pip also needs wheel .*offline, the cache lacks it/);
  });
  it('gives up when pip keeps asking for the same thing, or after the last round', async () => {
    const same = (await prove(deps([fail('wheel'), fail('wheel')], async () => [file('wheel', '1')])).catch((e: unknown) => e)) as PipcacheError;
    expect(same.code).toBe('E_EXPORT_UNPROVEN');
    expect(same.message).toMatch(/still finds no distribution for wheel/);
    const names = Array.from({ length: MAX_PROOF_ROUNDS + 1 }, (_, i) => fail(`p${i}`));
    const many = (await prove(deps(names, async (r) => r.map((x) => file(x, '1')))).catch((e: unknown) => e)) as PipcacheError;
    expect(many.code).toBe('E_EXPORT_UNPROVEN');
  });
  it('a failure that names nothing missing is reported with the end of pip\'s output', async () => {
    const conflict: DryRunResult = { ok: false, missing: [], unsupported: false, tail: 'ERROR: ResolutionImpossible' };
    const err = (await prove(deps([conflict], async () => [])).catch((e: unknown) => e)) as PipcacheError;
    expect(err.code).toBe('E_EXPORT_UNPROVEN');
    expect(err.message).toContain('ResolutionImpossible');
  });
  it('an interpreter whose pip has no --dry-run is reported, not failed', async () => {
    const proof = await prove(deps([{ ok: false, missing: [], unsupported: true, tail: '' }], async () => []));
    expect(proof.status).toBe('skipped');
  });
});
