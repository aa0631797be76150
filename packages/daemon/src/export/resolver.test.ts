import { describe, expect, it } from 'vitest';
import { markerEnvFor, parseArchiveFilename, parseRequirementLine, type Requirement, type Target } from '@pipcache/pep';
import { resolve, type CandidateFile, type CandidateSource, type ResolveOptions } from './resolver.js';

interface FakeVersion {
  files?: (string | Partial<CandidateFile> & { filename: string })[];
  deps?: string[] | null;
}

/** project -> version -> files/deps. Files default to one py3-none-any wheel. */
function source(db: Record<string, Record<string, FakeVersion>>): CandidateSource & { calls: number } {
  const src = {
    calls: 0,
    async versions(project: string) {
      src.calls++;
      return Object.entries(db[project] ?? {}).map(([version, v]) => ({
        version,
        files: (v.files ?? [`${project.replace(/-/g, '_')}-${version}-py3-none-any.whl`]).map((f): CandidateFile => {
          const spec = typeof f === 'string' ? { filename: f } : f;
          const parsed = parseArchiveFilename(spec.filename);
          const file: CandidateFile = { kind: parsed?.kind ?? 'sdist', yanked: false, ...spec };
          if (parsed?.tags !== undefined && file.tags === undefined) file.tags = parsed.tags;
          return file;
        }),
      }));
    },
    async requiresDist(project: string, version: string) {
      const v = db[project]?.[version];
      if (v === undefined) throw new Error(`no such version ${project} ${version}`);
      return v.deps === undefined ? [] : v.deps;
    },
  };
  return src;
}

const target: Target = { pythonVersion: '3.11', platforms: [], implementation: 'cp' };
function opts(extra: Partial<ResolveOptions> = {}): ResolveOptions {
  return { target, markerEnv: markerEnvFor({ pythonVersion: '3.11' }), pre: false, constraints: [], ...extra };
}
const reqs = (...lines: string[]): Requirement[] => lines.map((l, i) => parseRequirementLine(l, `requirements.txt:${i + 1}`));
const picked = (r: Awaited<ReturnType<typeof resolve>>): string[] => r.chosen.map((c) => `${c.project}==${c.version}`);

describe('resolve', () => {
  it('follows a transitive chain and picks the highest versions', async () => {
    const src = source({
      a: { '1.0': { deps: ['b>=1'] }, '2.0': { deps: ['b>=2'] } },
      b: { '1.0': {}, '2.0': { deps: ['c'] }, '2.5': { deps: ['c<2'] } },
      c: { '1.0': {}, '2.0': {} },
    });
    const r = await resolve(reqs('a'), src, opts());
    expect(picked(r)).toEqual(['a==2.0', 'b==2.5', 'c==1.0']);
    expect(r.missing).toEqual([]);
    expect(r.chosen[0]?.files.map((f) => f.filename)).toEqual(['a-2.0-py3-none-any.whl']);
  });

  it('selects extra deps for requested extras, including self-referencing extras', async () => {
    const src = source({
      web: {
        '1.0': {
          deps: ['core', 'fastlib ; extra == "fast"', 'slowlib ; extra == "slow"', 'web[fast,docs] ; extra == "all"', 'sphinx ; extra == "docs"'],
        },
      },
      core: { '1.0': {} },
      fastlib: { '1.0': {} },
      slowlib: { '1.0': {} },
      sphinx: { '7.0': {} },
    });
    expect(picked(await resolve(reqs('web'), src, opts()))).toEqual(['core==1.0', 'web==1.0']);
    const fast = await resolve(reqs('web[Fast]'), src, opts());
    expect(picked(fast)).toEqual(['core==1.0', 'fastlib==1.0', 'web==1.0']);
    expect(fast.chosen.find((c) => c.project === 'web')?.extras).toEqual(['fast']);
    const all = await resolve(reqs('web', 'web[all]'), src, opts());
    expect(picked(all)).toEqual(['core==1.0', 'fastlib==1.0', 'sphinx==7.0', 'web==1.0']);
    expect(all.chosen.find((c) => c.project === 'web')?.extras).toEqual(['all', 'docs', 'fast']);
  });

  it('uses markers to select platform deps and skip false roots', async () => {
    const src = source({
      app: { '1.0': { deps: ['pywin32 ; sys_platform == "win32"', 'uvloop ; sys_platform != "win32"', 'tomli ; python_version < "3.11"'] } },
      pywin32: { '306': { files: ['pywin32-306-cp311-cp311-win_amd64.whl'] } },
      uvloop: { '0.19.0': { files: ['uvloop-0.19.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl'] } },
      tomli: { '2.0.1': {} },
      colorama: { '0.4.6': {} },
    });
    const linux = await resolve(reqs('app', 'colorama ; os_name == "nt"'), src, opts());
    expect(picked(linux)).toEqual(['app==1.0', 'uvloop==0.19.0']);
    const winOpts = opts({
      target: { pythonVersion: '3.11', platforms: ['win_amd64'], implementation: 'cp' },
      markerEnv: markerEnvFor({ pythonVersion: '3.11', platform: 'win_amd64' }),
    });
    const win = await resolve(reqs('app', 'colorama ; os_name == "nt"'), src, winOpts);
    expect(picked(win)).toEqual(['app==1.0', 'colorama==0.4.6', 'pywin32==306']);
  });

  it('reports conflicting constraints in missing', async () => {
    const src = source({ foo: { '1.0': {}, '2.0': {} } });
    const r = await resolve(reqs('foo>=2'), src, opts({ constraints: reqs('foo<2') }));
    expect(r.chosen).toEqual([]);
    expect(r.missing).toHaveLength(1);
    expect(r.missing[0]).toMatchObject({ project: 'foo', requirement: 'foo>=2' });
    expect(r.missing[0]?.reason).toMatch(/2\.0: excluded by constraint 'foo<2' \(requirements\.txt:1\)/);
    // A satisfiable constraint narrows the choice; constraints alone add nothing.
    const ok = await resolve(reqs('foo'), src, opts({ constraints: reqs('foo<2', 'bar==1') }));
    expect(picked(ok)).toEqual(['foo==1.0']);
  });

  it('backtracks an earlier pick when a later requirement conflicts', async () => {
    const src = source({
      a: { '1.0': { deps: ['shared<2'] }, '2.0': { deps: ['shared>=2'] } },
      b: { '1.0': { deps: ['shared<2'] } },
      shared: { '1.0': {}, '2.0': {} },
    });
    const r = await resolve(reqs('a', 'b'), src, opts());
    expect(picked(r)).toEqual(['a==1.0', 'b==1.0', 'shared==1.0']);
    expect(r.missing).toEqual([]);
  });

  it('forgets what an abandoned branch reported missing', async () => {
    const src = source({
      a: { '1.0': { deps: ['shared<2'] }, '2.0': { deps: ['gone', 'shared>=2'] } },
      b: { '1.0': { deps: ['shared<2'] } },
      shared: { '1.0': {}, '2.0': {} },
    });
    const r = await resolve(reqs('a', 'b'), src, opts());
    expect(picked(r)).toEqual(['a==1.0', 'b==1.0', 'shared==1.0']);
    expect(r.missing).toEqual([]);
  });

  it('backtracks a root pick against a later root requirement', async () => {
    const src = source({ foo: { '1.0': {}, '1.5': {}, '2.0': {}, '3.0': {} } });
    const r = await resolve(reqs('foo>=1', 'foo<2,!=1.5'), src, opts());
    expect(picked(r)).toEqual(['foo==1.0']);
    expect(r.missing).toEqual([]);
  });

  it('reports unresolvable conflicts without throwing', async () => {
    const src = source({
      a: { '1.0': { deps: ['shared==1.0'] } },
      b: { '1.0': { deps: ['shared==2.0'] } },
      shared: { '1.0': {}, '2.0': {} },
    });
    const r = await resolve(reqs('a', 'b'), src, opts());
    expect(picked(r)).toEqual(['a==1.0', 'b==1.0', 'shared==1.0']);
    expect(r.missing).toHaveLength(1);
    expect(r.missing[0]).toMatchObject({ project: 'shared', requirement: 'shared==2.0' });
    expect(r.missing[0]?.reason).toMatch(/conflict \(required by b 1\.0\): shared 1\.0 was chosen for 'shared==1\.0' \(required by a 1\.0\)/);
  });

  it('bounds the work and still returns', async () => {
    // Many versions of many packages, and an unsatisfiable leaf conflict.
    const db: Record<string, Record<string, FakeVersion>> = { root: { '1.0': { deps: [] } } };
    for (let p = 0; p < 8; p++) {
      db.root!['1.0']!.deps!.push(`p${p}`);
      db[`p${p}`] = {};
      for (let v = 0; v < 10; v++) db[`p${p}`]![`${v}.0`] = { deps: [`leaf==${p % 2 === 0 ? '1.0' : '2.0'}`] };
    }
    db.leaf = { '1.0': {}, '2.0': {} };
    const r = await resolve(reqs('root'), source(db), opts({ maxSteps: 500 }));
    expect(r.missing.length).toBeGreaterThan(0);
    expect(r.missing.every((m) => m.project === 'leaf')).toBe(true);
    expect(r.chosen.map((c) => c.project)).toContain('leaf');
  });

  it('applies the pre-release rule', async () => {
    const src = source({ foo: { '1.0': {}, '2.0b1': {} }, onlypre: { '1.0a1': {}, '1.0a2': {} } });
    expect(picked(await resolve(reqs('foo'), src, opts()))).toEqual(['foo==1.0']);
    expect(picked(await resolve(reqs('foo'), src, opts({ pre: true })))).toEqual(['foo==2.0b1']);
    expect(picked(await resolve(reqs('foo>=2.0b1'), src, opts()))).toEqual(['foo==2.0b1']);
    expect(picked(await resolve(reqs('foo>=1.0'), src, opts()))).toEqual(['foo==1.0']);
    // Only pre-releases available: pip takes them.
    expect(picked(await resolve(reqs('onlypre'), src, opts()))).toEqual(['onlypre==1.0a2']);
  });

  it('applies the yanked rule (PEP 592)', async () => {
    const y = (filename: string): Partial<CandidateFile> & { filename: string } => ({ filename, yanked: 'broken' });
    const src = source({
      foo: { '1.0': {}, '1.1': { files: [y('foo-1.1-py3-none-any.whl')] } },
      bar: { '1.0': { files: [y('bar-1.0-py3-none-any.whl'), 'bar-1.0.tar.gz'] } },
    });
    expect(picked(await resolve(reqs('foo'), src, opts()))).toEqual(['foo==1.0']);
    const pinned = await resolve(reqs('foo==1.1'), src, opts());
    expect(picked(pinned)).toEqual(['foo==1.1']);
    const notPinned = await resolve(reqs('foo>1.0'), src, opts());
    expect(notPinned.chosen).toEqual([]);
    expect(notPinned.missing[0]?.reason).toMatch(/1\.1: yanked \(broken\)/);
    // The yanked wheel is left out, the sdist of the same version is fine.
    const bar = await resolve(reqs('bar'), src, opts());
    expect(bar.chosen[0]?.files.map((f) => f.filename)).toEqual(['bar-1.0.tar.gz']);
    expect((await resolve(reqs('bar===1.0'), src, opts())).chosen[0]?.files).toHaveLength(2);
  });

  it('filters by requires-python', async () => {
    const src = source({
      foo: {
        '1.0': { files: [{ filename: 'foo-1.0-py3-none-any.whl', requiresPython: '>=3.7' }] },
        '2.0': { files: [{ filename: 'foo-2.0-py3-none-any.whl', requiresPython: '>=3.12' }] },
        '3.0': { files: [{ filename: 'foo-3.0-py3-none-any.whl', requiresPython: 'not a specifier' }] },
      },
    });
    const r = await resolve(reqs('foo<3'), src, opts());
    expect(picked(r)).toEqual(['foo==1.0']);
    const only2 = await resolve(reqs('foo==2.0'), src, opts());
    expect(only2.missing[0]?.reason).toMatch(/2\.0: requires-python >=3\.12/);
    // Invalid requires-python is ignored, like pip.
    expect(picked(await resolve(reqs('foo'), src, opts()))).toEqual(['foo==3.0']);
  });

  it('handles dependency cycles', async () => {
    const src = source({ a: { '1.0': { deps: ['b'] } }, b: { '1.0': { deps: ['a>=1'] } } });
    const r = await resolve(reqs('a'), src, opts());
    expect(picked(r)).toEqual(['a==1.0', 'b==1.0']);
    expect(r.missing).toEqual([]);
  });

  it('uses sdist-only versions and keeps every serving file', async () => {
    const src = source({
      old: { '0.1': { files: ['old-0.1.tar.gz'] } },
      np: {
        '1.26.4': {
          files: [
            'numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl',
            'numpy-1.26.4-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl',
            'numpy-1.26.4-cp311-cp311-win_amd64.whl',
            'numpy-1.26.4.tar.gz',
          ],
        },
        '2.0.0': { files: ['numpy-2.0.0-cp312-cp312-manylinux_2_17_x86_64.whl'] },
      },
    });
    const r = await resolve(reqs('old', 'np'), src, opts());
    expect(picked(r)).toEqual(['np==1.26.4', 'old==0.1']);
    expect(r.chosen[0]?.files.map((f) => f.filename)).toEqual([
      'numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl',
      'numpy-1.26.4.tar.gz',
    ]);
    const only2 = await resolve(reqs('np>=2'), src, opts());
    expect(only2.missing[0]?.reason).toMatch(/2\.0\.0: wheel not compatible with the target/);
  });

  it('reports what is not cached, with who needs it, and goes on', async () => {
    const src = source({ a: { '1.0': { deps: ['gone>=1', 'b'] } }, b: { '1.0': {} }, old: { '0.5': {} } });
    const r = await resolve(reqs('a', 'old>=1', 'zzz'), src, opts());
    expect(picked(r)).toEqual(['a==1.0', 'b==1.0']);
    expect(r.missing.map((m) => [m.project, m.requirement])).toEqual([
      ['gone', 'gone>=1'],
      ['old', 'old>=1'],
      ['zzz', 'zzz'],
    ]);
    expect(r.missing[0]?.reason).toBe('not in the cache (required by a 1.0)');
    expect(r.missing[1]?.reason).toMatch(/^no cached version matches \(cached: 0\.5\) \(from requirements\.txt:2\)$/);
  });

  it('reports direct URL requirements, unknown metadata and bad Requires-Dist', async () => {
    const src = source({ a: { '1.0': { deps: ['bad dep !!'] } }, nometa: { '1.0': { deps: null } } });
    const r = await resolve(reqs('a', 'nometa', 'x @ https://example.com/x-1.0.tar.gz'), src, opts());
    expect(picked(r)).toEqual(['a==1.0', 'nometa==1.0']);
    expect(r.noMetadata).toEqual([{ project: 'nometa', version: '1.0' }]);
    expect(r.missing.map((m) => m.project)).toEqual(['a', 'x']);
    expect(r.missing[0]?.reason).toMatch(/invalid Requires-Dist in a 1\.0/);
    expect(r.missing[1]?.reason).toMatch(/direct URL requirement/);
  });

  it('asks the source once per project and version', async () => {
    const src = source({ a: { '1.0': { deps: ['c'] } }, b: { '1.0': { deps: ['c'] } }, c: { '1.0': {} } });
    await resolve(reqs('a', 'b', 'c', 'a'), src, opts());
    expect(src.calls).toBe(3);
  });
});
