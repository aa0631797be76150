import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isPipcacheError, type ErrorCode } from '@pipcache/shared';
import { findSnapshotSource, type SnapshotSource } from './index.js';
import type { SnapshotOptions } from './types.js';

const made: string[] = [];

afterEach(async () => {
  for (const d of made.splice(0)) await rm(d, { recursive: true, force: true });
});

/** A temp dir holding `files` (path -> content). */
async function project(files: Record<string, string> = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pipcache-sources-'));
  made.push(dir);
  for (const [p, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, p)), { recursive: true });
    await writeFile(join(dir, p), content);
  }
  return dir;
}

function options(projectDir: string, over: Partial<SnapshotOptions> = {}): SnapshotOptions {
  return { projectDir, extras: [], allExtras: false, groups: [], env: {}, target: { pythonVersion: '3.11' }, ...over };
}

/** A fake venv's dist-info: `<venv>/lib/python3.11/site-packages/<name>-<version>.dist-info/METADATA`. */
function distInfo(name: string, version: string, extra: Record<string, string> = {}): Record<string, string> {
  const base = `venv/lib/python3.11/site-packages/${name.replace(/-/g, '_')}-${version}.dist-info`;
  const files: Record<string, string> = {
    [`${base}/METADATA`]: `Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\nSummary: x\n\nName: not-this\n`,
  };
  for (const [f, c] of Object.entries(extra)) files[`${base}/${f}`] = c;
  return files;
}

async function rejection(p: Promise<unknown>, code: ErrorCode): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (!isPipcacheError(err)) throw err;
    expect(err.code).toBe(code);
    return err.message;
  }
  throw new Error('expected a rejection');
}

const texts = (s: SnapshotSource): string[] => s.roots.map((r) => r.text);

const PYLOCK = `lock-version = "1.0"
created-by = "test"
requires-python = ">=3.9"

[[packages]]
name = "attrs"
version = "25.1.0"
index = "https://pypi.org/simple"

[[packages]]
name = "colorama"
version = "0.4.6"
marker = "sys_platform == 'win32'"

[[packages]]
name = "tomli"
version = "2.2.1"
marker = "python_version < '3.11'"

[[packages]]
name = "exceptiongroup"
version = "1.2.2"
marker = "python_version >= '3.11'"

[[packages]]
name = "myproj"
directory = { path = ".", editable = true }
`;

const PYPROJECT = `[project]
name = "MyProj"
version = "1.0"
dependencies = ["requests>=2.31", "attrs ; python_version >= '3.8'"]

[project.optional-dependencies]
fast = ["orjson"]
Cli = ["click>=8"]
all = ["myproj[fast,cli]"]

[dependency-groups]
test = ["pytest>=8", {include-group = "lint"}]
lint = ["ruff"]
dev = [{include-group = "test"}, "myproj[fast]"]
loop-a = [{include-group = "loop-b"}]
loop-b = [{include-group = "loop-a"}]

[build-system]
requires = ["hatchling>=1.20"]
build-backend = "hatchling.build"
`;

describe('pylock.toml', () => {
  it('pins every package whose marker holds for the target and skips the project itself', async () => {
    const dir = await project({ 'pylock.toml': PYLOCK });
    const s = await findSnapshotSource(options(dir), { cwd: dir });
    expect(s.kind).toBe('pylock');
    expect(s.path).toBe('pylock.toml');
    expect(s.exact).toBe(true);
    expect(texts(s)).toEqual(['attrs==25.1.0', 'exceptiongroup==1.2.2']);
    expect(s.roots[0]?.source).toBe('pylock.toml:packages[0]');
    expect(s.notes.join('\n')).toMatch(/marker is false for the target: colorama==0\.4\.6, tomli==2\.2\.1/);
    expect(s.notes.join('\n')).toMatch(/skipped myproj .*directory/);
    expect(s.installCommand('./packages')).toBe('pip install --no-index --find-links ./packages attrs==25.1.0 exceptiongroup==1.2.2');
  });

  it('evaluates markers for another target (python 3.10 on Windows)', async () => {
    const dir = await project({ 'pylock.toml': PYLOCK });
    const s = await findSnapshotSource(
      options(dir, { target: { pythonVersion: '3.10', markerEnv: { sys_platform: 'win32' } } }),
      { cwd: dir },
    );
    expect(texts(s)).toEqual(['attrs==25.1.0', 'colorama==0.4.6', 'tomli==2.2.1']);
  });

  it("honours PEP 751 'x' in extras / dependency_groups markers and default-groups", async () => {
    const lock = `lock-version = "1.0"
extras = ["fast"]
dependency-groups = ["dev", "docs"]
default-groups = ["dev"]
[[packages]]
name = "orjson"
version = "3.10.0"
marker = "'fast' in extras"
[[packages]]
name = "pytest"
version = "8.3.0"
marker = "'dev' in dependency_groups"
[[packages]]
name = "sphinx"
version = "8.1.0"
marker = "'docs' in dependency_groups and python_version >= '3.9'"
`;
    const dir = await project({ 'pylock.toml': lock });
    expect(texts(await findSnapshotSource(options(dir), { cwd: dir }))).toEqual(['pytest==8.3.0']);
    expect(texts(await findSnapshotSource(options(dir, { extras: ['fast'], groups: ['docs'] }), { cwd: dir }))).toEqual([
      'orjson==3.10.0',
      'sphinx==8.1.0',
    ]);
    expect(await rejection(findSnapshotSource(options(dir, { extras: ['nope'] }), { cwd: dir }), 'E_USAGE')).toMatch(
      /no extra 'nope' \(available: fast\)/,
    );
  });

  it('uses a single pylock.<name>.toml and refuses to guess between several', async () => {
    const one = await project({ 'pylock.dev.toml': PYLOCK });
    expect((await findSnapshotSource(options(one), { cwd: one })).path).toBe('pylock.dev.toml');
    const two = await project({ 'pylock.dev.toml': PYLOCK, 'pylock.prod.toml': PYLOCK });
    expect(await rejection(findSnapshotSource(options(two), { cwd: two }), 'E_USAGE')).toMatch(/pylock\.dev\.toml, pylock\.prod\.toml/);
  });

  it('rejects an unknown lock-version, naming the file', async () => {
    const dir = await project({ 'pylock.toml': 'lock-version = "2.0"\n' });
    expect(await rejection(findSnapshotSource(options(dir), { cwd: dir }), 'E_BAD_REQUEST')).toMatch(/^pylock\.toml: unsupported lock-version "2\.0"/);
  });

  it('names the file and line of broken TOML', async () => {
    const dir = await project({ 'pylock.toml': 'lock-version = "1.0"\n\n[[packages]]\nname = "x\n' });
    expect(await rejection(findSnapshotSource(options(dir), { cwd: dir }), 'E_BAD_REQUEST')).toMatch(/^pylock\.toml:4:\d+: invalid TOML/);
  });

  it('falls back to "-r requirements.txt" or a count in the install command', async () => {
    const many = Array.from({ length: 11 }, (_, i) => `[[packages]]\nname = "p${i}"\nversion = "1.${i}"\n`).join('');
    const dir = await project({ 'pylock.toml': `lock-version = "1.0"\n${many}` });
    const s = await findSnapshotSource(options(dir), { cwd: dir });
    expect(s.roots).toHaveLength(11);
    expect(s.installCommand('out')).toBe('pip install --no-index --find-links out <the 11 pinned requirements from pylock.toml>');
    const withReqs = await project({ 'pylock.toml': PYLOCK, 'requirements.txt': 'attrs\n' });
    const t = await findSnapshotSource(options(withReqs), { cwd: withReqs });
    expect(t.kind).toBe('pylock');
    expect(t.installCommand('my dir')).toBe("pip install --no-index --find-links 'my dir' -r requirements.txt");
  });
});

describe('requirements.txt', () => {
  it('reads requirements, constraints, --pre and notes editables and URLs', async () => {
    const dir = await project({
      'requirements.txt': '--pre\nrequests>=2  # http\n-c constraints.txt\n-e ./src/lib\n./wheels/foo-1.0-py3-none-any.whl\nattrs ; python_version >= "3.8"\n',
      'constraints.txt': 'urllib3<3\n',
    });
    const s = await findSnapshotSource(options(dir), { cwd: dir });
    expect(s.kind).toBe('requirements');
    expect(s.path).toBe('requirements.txt');
    expect(s.exact).toBe(false);
    expect(s.pre).toBe(true);
    expect(s.roots).toEqual([
      { text: 'requests>=2', source: 'requirements.txt:2' },
      { text: 'attrs ; python_version >= "3.8"', source: 'requirements.txt:6' },
    ]);
    expect(s.constraints).toEqual([{ text: 'urllib3<3', source: 'constraints.txt:1' }]);
    expect(s.notes.join('\n')).toMatch(/skipped editable '-e \.\/src\/lib' \(requirements\.txt:4\)/);
    expect(s.notes.join('\n')).toMatch(/requirements\.txt:5\): local path/);
    expect(s.installCommand('./packages')).toBe('pip install --no-index --find-links ./packages -r requirements.txt');
  });

  it('expands ${VAR} from opts.env and shows paths relative to the cwd', async () => {
    const dir = await project({ 'app/requirements.txt': 'requests==${REQ_VERSION}\n' });
    const s = await findSnapshotSource(options('app', { env: { REQ_VERSION: '2.32.3' } }), { cwd: dir });
    expect(s.roots).toEqual([{ text: 'requests==2.32.3', source: 'app/requirements.txt:1' }]);
    expect(s.installCommand('pk')).toBe('pip install --no-index --find-links pk -r app/requirements.txt');
  });

  it("passes on the requirement parser's file:line error", async () => {
    const dir = await project({ 'requirements.txt': 'requests\nfoo >= = 1\n' });
    expect(await rejection(findSnapshotSource(options(dir), { cwd: dir }), 'E_BAD_REQUEST')).toMatch(/^requirements\.txt:2: /);
  });
});

describe('pyproject.toml', () => {
  it('takes project.dependencies and build-system.requires', async () => {
    const dir = await project({ 'pyproject.toml': PYPROJECT });
    const s = await findSnapshotSource(options(dir), { cwd: dir });
    expect(s.kind).toBe('pyproject');
    expect(s.exact).toBe(false);
    expect(s.roots).toEqual([
      { text: 'requests>=2.31', source: 'pyproject.toml:project.dependencies[0]' },
      { text: "attrs ; python_version >= '3.8'", source: 'pyproject.toml:project.dependencies[1]' },
      { text: 'hatchling>=1.20', source: 'pyproject.toml:build-system.requires[0]' },
    ]);
    expect(s.installCommand('./packages')).toBe('pip install --no-index --find-links ./packages .');
  });

  it('adds the extras asked for, expanding self-references, and rejects unknown ones', async () => {
    const dir = await project({ 'pyproject.toml': PYPROJECT });
    const fast = await findSnapshotSource(options(dir, { extras: ['fast'] }), { cwd: dir });
    expect(texts(fast)).toContain('orjson');
    expect(texts(fast)).not.toContain('click>=8');
    expect(fast.installCommand('d')).toBe("pip install --no-index --find-links d '.[fast]'");
    const all = await findSnapshotSource(options(dir, { extras: ['all'] }), { cwd: dir });
    expect(texts(all)).toEqual(expect.arrayContaining(['orjson', 'click>=8']));
    expect(texts(all).some((t) => t.startsWith('myproj'))).toBe(false);
    const every = await findSnapshotSource(options(dir, { allExtras: true }), { cwd: dir });
    expect(texts(every)).toEqual(expect.arrayContaining(['orjson', 'click>=8']));
    expect(await rejection(findSnapshotSource(options(dir, { extras: ['gpu'] }), { cwd: dir }), 'E_USAGE')).toMatch(
      /no extra 'gpu' \(available: fast, Cli, all\)/,
    );
  });

  it('adds PEP 735 groups with include-group, detects cycles and unknown names', async () => {
    const dir = await project({ 'pyproject.toml': PYPROJECT });
    const s = await findSnapshotSource(options(dir, { groups: ['dev'] }), { cwd: dir });
    expect(texts(s)).toEqual(['requests>=2.31', "attrs ; python_version >= '3.8'", 'pytest>=8', 'ruff', 'orjson', 'hatchling>=1.20']);
    expect(s.roots.find((r) => r.text === 'ruff')?.source).toBe('pyproject.toml:dependency-groups.lint[0]');
    expect(s.installCommand('d')).toBe("pip install --no-index --find-links d '.[fast]' --group dev");
    expect(await rejection(findSnapshotSource(options(dir, { groups: ['docs'] }), { cwd: dir }), 'E_USAGE')).toMatch(
      /no dependency group 'docs' \(available: test, lint, dev, loop-a, loop-b\)/,
    );
    expect(await rejection(findSnapshotSource(options(dir, { groups: ['loop-a'] }), { cwd: dir }), 'E_BAD_REQUEST')).toMatch(
      /includes itself \(loop-a -> loop-b -> loop-a\)/,
    );
  });

  it('refuses dynamic dependencies and a missing [project]', async () => {
    const dyn = await project({ 'pyproject.toml': '[project]\nname = "x"\ndynamic = ["version", "dependencies"]\n' });
    expect(await rejection(findSnapshotSource(options(dyn), { cwd: dyn }), 'E_USAGE')).toBe(
      'pyproject.toml: dependencies are dynamic (setup.py); pass -r FILE or use a lock file',
    );
    const none = await project({ 'pyproject.toml': '[tool.black]\nline-length = 100\n' });
    expect(await rejection(findSnapshotSource(options(none), { cwd: none }), 'E_USAGE')).toMatch(/dynamic \(setup\.py\)/);
  });

  it("uses pip's default build requirements when [build-system] is missing", async () => {
    const dir = await project({ 'pyproject.toml': '[project]\nname = "x"\nversion = "1"\ndependencies = []\n' });
    const s = await findSnapshotSource(options(dir), { cwd: dir });
    expect(texts(s)).toEqual(['setuptools>=40.8.0', 'wheel']);
    expect(s.notes.join('\n')).toMatch(/no \[build-system\]/);
  });

  it('names the file and line of broken TOML and of a bad dependency', async () => {
    const broken = await project({ 'pyproject.toml': '[project]\nname = "x"\ndependencies = ["a",\n  "b"\n[build-system]\n' });
    expect(await rejection(findSnapshotSource(options(broken), { cwd: broken }), 'E_BAD_REQUEST')).toMatch(
      /^pyproject\.toml:\d+:\d+: invalid TOML/,
    );
    const badDep = await project({ 'pyproject.toml': '[project]\nname = "x"\ndependencies = ["ok", "-nope"]\n' });
    expect(await rejection(findSnapshotSource(options(badDep), { cwd: badDep }), 'E_BAD_REQUEST')).toMatch(
      /^pyproject\.toml:project\.dependencies\[1\]: /,
    );
  });

  it('shows the project path in the install command for --project', async () => {
    const dir = await project({ 'sub/pyproject.toml': PYPROJECT });
    const s = await findSnapshotSource(options('sub', { groups: ['lint'] }), { cwd: dir });
    expect(s.path).toBe('sub/pyproject.toml');
    expect(s.installCommand('d')).toBe('pip install --no-index --find-links d sub --group sub/pyproject.toml:lint');
  });
});

describe('virtualenv', () => {
  const venvFiles = {
    ...distInfo('pip', '24.2'),
    ...distInfo('Requests', '2.32.3'),
    ...distInfo('typing_extensions', '4.12.2'),
    ...distInfo('mylib', '0.1.0', { 'direct_url.json': '{"url": "file:///src/mylib", "dir_info": {"editable": true}}' }),
    ...distInfo('wheelinst', '1.0', { 'direct_url.json': '{"url": "https://x/wheelinst-1.0-py3-none-any.whl", "archive_info": {}}' }),
  };

  it('pins every dist-info of $VIRTUAL_ENV, skipping editables', async () => {
    const dir = await project(venvFiles);
    const s = await findSnapshotSource(options(dir, { env: { VIRTUAL_ENV: join(dir, 'venv') } }), { cwd: dir });
    expect(s.kind).toBe('venv');
    expect(s.path).toBe('venv');
    expect(s.exact).toBe(true);
    expect(texts(s)).toEqual(['pip==24.2', 'requests==2.32.3', 'typing-extensions==4.12.2', 'wheelinst==1.0']);
    expect(s.roots[0]?.source).toBe('venv/lib/python3.11/site-packages/pip-24.2.dist-info');
    expect(s.notes.join('\n')).toMatch(/skipped editable installs: mylib \(file:\/\/\/src\/mylib\)/);
    expect(s.installCommand('d')).toBe(
      'pip install --no-index --find-links d pip==24.2 requests==2.32.3 typing-extensions==4.12.2 wheelinst==1.0',
    );
  });

  it('suggests pip freeze for a large environment', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 12; i++) Object.assign(files, distInfo(`pkg${i}`, '1.0'));
    const dir = await project(files);
    const s = await findSnapshotSource(options(dir, { env: { VIRTUAL_ENV: join(dir, 'venv') } }), { cwd: dir });
    expect(s.installCommand('d')).toBe(
      'venv/bin/python -m pip freeze --exclude-editable > requirements.txt && pip install --no-index --find-links d -r requirements.txt',
    );
  });

  it('asks --from-env PYTHON for its site-packages (and it beats project files)', async () => {
    const dir = await project({ ...venvFiles, 'requirements.txt': 'requests\n' });
    const sp = join(dir, 'venv/lib/python3.11/site-packages');
    const calls: string[] = [];
    const s = await findSnapshotSource(options(dir, { fromEnv: '/opt/py/bin/python3' }), {
      cwd: dir,
      runPython: async (python, code, timeoutMs) => {
        calls.push(`${python} ${timeoutMs}`);
        expect(code).toContain('sysconfig');
        return JSON.stringify([sp, sp]) + '\n';
      },
    });
    expect(calls).toEqual(['/opt/py/bin/python3 30000']);
    expect(s.kind).toBe('venv');
    expect(s.path).toBe('/opt/py/bin/python3');
    expect(texts(s)).toHaveLength(4);
    expect(s.installCommand('d')).toBe('pip install --no-index --find-links d -r requirements.txt');
  });

  it('runs a real interpreter to find its site-packages', async () => {
    expect(spawnSync('python3', ['--version']).status, 'python3 must be on PATH for this test').toBe(0);
    const dir = await project();
    const s = await findSnapshotSource(options(dir, { fromEnv: 'python3' }), { cwd: dir });
    expect(s.kind).toBe('venv');
    expect(s.roots.every((r) => /^[a-z0-9-]+==\S+$/.test(r.text))).toBe(true);
  });

  it('reports an interpreter that cannot be run', async () => {
    const dir = await project();
    const msg = await rejection(
      findSnapshotSource(options(dir, { fromEnv: join(dir, 'no-such-python') }), { cwd: dir }),
      'E_USAGE',
    );
    expect(msg).toMatch(/--from-env .*no-such-python: could not run it/);
  });
});

describe('precedence and nothing found', () => {
  const all = {
    'pylock.toml': PYLOCK,
    'requirements.txt': 'flask\n',
    'pyproject.toml': PYPROJECT,
    ...distInfo('pip', '24.2'),
  };

  it('lock beats requirements beats pyproject beats venv', async () => {
    const dir = await project(all);
    const env = { VIRTUAL_ENV: join(dir, 'venv') };
    expect((await findSnapshotSource(options(dir, { env }), { cwd: dir })).kind).toBe('pylock');
    await rm(join(dir, 'pylock.toml'));
    expect((await findSnapshotSource(options(dir, { env }), { cwd: dir })).kind).toBe('requirements');
    await rm(join(dir, 'requirements.txt'));
    expect((await findSnapshotSource(options(dir, { env }), { cwd: dir })).kind).toBe('pyproject');
    await rm(join(dir, 'pyproject.toml'));
    expect((await findSnapshotSource(options(dir, { env }), { cwd: dir })).kind).toBe('venv');
  });

  it('--extra/--group skip requirements.txt for pyproject.toml, and fail without one', async () => {
    const dir = await project({ 'requirements.txt': 'flask\n', 'pyproject.toml': PYPROJECT });
    const s = await findSnapshotSource(options(dir, { extras: ['fast'] }), { cwd: dir });
    expect(s.kind).toBe('pyproject');
    expect(s.notes[0]).toMatch(/requirements\.txt not used/);
    const only = await project({ 'requirements.txt': 'flask\n' });
    expect(await rejection(findSnapshotSource(options(only, { groups: ['dev'] }), { cwd: only }), 'E_USAGE')).toMatch(/--group/);
  });

  it('fails with E_USAGE when there is nothing to export', async () => {
    const dir = await project({ 'README.md': 'hi\n', 'uv.lock': 'version = 1\n' });
    const err = await findSnapshotSource(options(dir), { cwd: dir }).catch((e: unknown) => e);
    expect(isPipcacheError(err, 'E_USAGE')).toBe(true);
    expect((err as Error).message).toBe(
      `nothing to export in ${dir}: looked for pylock.toml, requirements.txt, pyproject.toml and an active virtualenv; pass -r FILE, SPEC or --all`,
    );
    expect((err as { hint: string }).hint).toMatch(/uv export --format pylock\.toml/);
  });

  it('notes an unread uv.lock next to the source it used', async () => {
    const dir = await project({ 'requirements.txt': 'flask\n', 'uv.lock': 'version = 1\n' });
    const s = await findSnapshotSource(options(dir), { cwd: dir });
    expect(s.notes.join('\n')).toMatch(/uv\.lock is not read/);
  });

  it('writes nothing', async () => {
    const dir = await project(all);
    const before = (await readdir(dir, { recursive: true })).sort();
    await findSnapshotSource(options(dir), { cwd: dir });
    expect((await readdir(dir, { recursive: true })).sort()).toEqual(before);
  });
});
