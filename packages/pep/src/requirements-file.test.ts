import { describe, expect, it } from 'vitest';
import { PipcacheError } from '@pipcache/shared';
import { readRequirementsFile } from './requirements-file.js';

function fakeFs(files: Record<string, string>): (p: string) => Promise<string> {
  return async (p) => {
    const content = files[p];
    if (content === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
    return content;
  };
}

describe('readRequirementsFile', () => {
  it('handles comments, continuations, hashes, options and editables', async () => {
    const fs = fakeFs({
      'dir/req.txt': [
        '# a comment',
        '--index-url https://example.com/simple',
        '--extra-index-url=https://other.example.com/simple',
        '-f ./wheels',
        '--trusted-host example.com',
        '--prefer-binary',
        '--only-binary :all:',
        '--no-binary foo',
        '',
        'requests==2.31.0 \\',
        '    --hash=sha256:' + 'a'.repeat(64) + ' \\',
        '    --hash sha256:' + 'B'.repeat(64),
        'six  # trailing comment',
        'url#frag-is-not-a-comment>=1.0'.replace('url#frag-is-not-a-comment', 'attrs'),
        '-e ./local-pkg',
        '--editable=git+https://example.com/x.git#egg=x',
        'foo; sys_platform == "win32"',
        '  ',
      ].join('\n'),
    });
    const f = await readRequirementsFile('dir/req.txt', fs);
    expect(f.requirements.map((r) => [r.name, r.specifier, r.source])).toEqual([
      ['requests', '==2.31.0', 'dir/req.txt:10'],
      ['six', '', 'dir/req.txt:13'],
      ['attrs', '>=1.0', 'dir/req.txt:14'],
      ['foo', '', 'dir/req.txt:17'],
    ]);
    expect(f.requirements[0]?.hashes).toEqual(['sha256:' + 'a'.repeat(64), 'sha256:' + 'b'.repeat(64)]);
    expect(f.editables.map((e) => e.source)).toEqual(['dir/req.txt:15', 'dir/req.txt:16']);
    expect(f.pre).toBe(false);
    expect(f.unsupported).toEqual([]);
  });

  it('follows nested -r and -c relative to the including file', async () => {
    const fs = fakeFs({
      'top/req.txt': '-r sub/more.txt\n--constraint=../c.txt\n--pre\nalpha\n',
      'top/sub/more.txt': 'beta>=2\n-r../../shared.txt\n',
      'shared.txt': 'gamma\n',
      'c.txt': 'beta<3\n-r c2.txt\n',
      'c2.txt': 'alpha==1.0\n',
    });
    const f = await readRequirementsFile('top/req.txt', fs);
    expect(f.requirements.map((r) => `${r.name}${r.specifier}@${r.source}`)).toEqual([
      'beta>=2@top/sub/more.txt:1',
      'gamma@shared.txt:1',
      // pip: -r inside a constraints file gives requirements again.
      'alpha==1.0@c2.txt:1',
      'alpha@top/req.txt:4',
    ]);
    expect(f.constraints.map((r) => `${r.name}${r.specifier}`)).toEqual(['beta<3']);
    expect(f.pre).toBe(true);
  });

  it('treats -c content as constraints including nested -c', async () => {
    const fs = fakeFs({ 'r.txt': '-c c.txt\nfoo\n', 'c.txt': '-c c2.txt\nfoo<2\n', 'c2.txt': 'foo!=1.5\n' });
    const f = await readRequirementsFile('r.txt', fs);
    expect(f.constraints.map((c) => c.text)).toEqual(['foo!=1.5', 'foo<2']);
  });

  it('detects include cycles', async () => {
    const fs = fakeFs({ 'a.txt': 'x\n-r b.txt\n', 'b.txt': '-r ./a.txt\n' });
    await expect(readRequirementsFile('./a.txt', fs)).rejects.toThrow(/^b\.txt:1: '\.\/a\.txt' includes itself recursively \(a\.txt -> b\.txt -> a\.txt\)/);
    const self = fakeFs({ 'a.txt': '-r a.txt\n' });
    await expect(readRequirementsFile('a.txt', self)).rejects.toThrow(/recursively/);
  });

  it('allows the same file twice when it is not a cycle', async () => {
    const fs = fakeFs({ 'a.txt': '-r b.txt\n-r b.txt\n', 'b.txt': 'x\n' });
    const f = await readRequirementsFile('a.txt', fs);
    expect(f.requirements.length).toBe(2);
  });

  it('expands ${VAR} like pip', async () => {
    const fs = fakeFs({ 'r.txt': 'foo==${FOO_VERSION}\nbar${UNSET_VAR}\n', 'r2.txt': 'baz==${lower}\n' });
    const f = await readRequirementsFile('r.txt', fs, { env: { FOO_VERSION: '1.2.3' } }).catch((e: unknown) => e);
    // ${UNSET_VAR} stays literal and then fails to parse, with its location.
    expect((f as Error).message).toMatch(/^r\.txt:2:/);
    const ok = await readRequirementsFile('r.txt', fakeFs({ 'r.txt': 'foo==${FOO_VERSION}\n' }), { env: { FOO_VERSION: '1.2.3' } });
    expect(ok.requirements[0]?.specifier).toBe('==1.2.3');
  });

  it('records bare URLs and local paths as unsupported', async () => {
    const fs = fakeFs({
      'r.txt': [
        'https://example.com/foo-1.0.tar.gz',
        './local/dir',
        'dist/foo-1.0-py3-none-any.whl',
        'git+https://example.com/x.git',
        'foo @ https://example.com/foo-1.0.tar.gz',
      ].join('\n'),
    });
    const f = await readRequirementsFile('r.txt', fs);
    expect(f.unsupported.map((u) => u.source)).toEqual(['r.txt:1', 'r.txt:2', 'r.txt:3', 'r.txt:4']);
    expect(f.unsupported[0]?.reason).toMatch(/URL/);
    expect(f.unsupported[1]?.reason).toMatch(/local path/);
    expect(f.requirements.map((r) => r.url)).toEqual(['https://example.com/foo-1.0.tar.gz']);
  });

  it('rejects bad lines and options with file:line', async () => {
    const cases: [string, RegExp][] = [
      ['ok\nfoo >=\n', /^r\.txt:2: invalid version specifier/],
      ['--bogus\n', /^r\.txt:1: unknown option '--bogus'/],
      ['foo --hash=md5:abc\n', /^r\.txt:1: invalid --hash/],
      ['foo --hash=sha256:abc\n', /^r\.txt:1: invalid --hash/],
      ['--hash=sha256:' + 'a'.repeat(64) + '\n', /^r\.txt:1: option '--hash' must follow a requirement/],
      ['-r\n', /^r\.txt:1: option '-r' needs a value/],
      ['foo --index-url x\n', /^r\.txt:1: option '--index-url' cannot follow a requirement/],
      ['a\nb\n\\\nfoo 1\n', /^r\.txt:3: /],
    ];
    for (const [content, re] of cases) {
      const err = await readRequirementsFile('r.txt', fakeFs({ 'r.txt': content })).catch((e: unknown) => e);
      expect(err, content).toBeInstanceOf(PipcacheError);
      expect((err as PipcacheError).code, content).toBe('E_BAD_REQUEST');
      expect((err as Error).message, content).toMatch(re);
    }
  });

  it('reports missing files', async () => {
    const err = await readRequirementsFile('nope.txt', fakeFs({})).catch((e: unknown) => e);
    expect((err as PipcacheError).code).toBe('E_NOT_FOUND');
    const nested = await readRequirementsFile('r.txt', fakeFs({ 'r.txt': 'a\n-r gone.txt\n' })).catch((e: unknown) => e);
    expect((nested as PipcacheError).code).toBe('E_NOT_FOUND');
    expect((nested as Error).message).toMatch(/^r\.txt:2: requirements file 'gone\.txt' does not exist/);
  });

  it('reads from disk through node:fs when the caller passes it', async () => {
    const { mkdtemp, readFile, rm, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = await mkdtemp(join(tmpdir(), 'pipcache-req-'));
    await writeFile(join(dir, 'r.txt'), '\uFEFFfoo==1\r\n-r other.txt\r\n');
    await writeFile(join(dir, 'other.txt'), 'bar\n');
    const f = await readRequirementsFile(join(dir, 'r.txt'), (p) => readFile(p, 'utf8'));
    expect(f.requirements.map((r) => r.name)).toEqual(['foo', 'bar']);
    const missing = await readRequirementsFile(join(dir, 'gone.txt'), (p) => readFile(p, 'utf8')).catch((e: unknown) => e);
    expect((missing as PipcacheError).code).toBe('E_NOT_FOUND');
    await rm(dir, { recursive: true, force: true });
  });
});
