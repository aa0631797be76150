import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PipcacheError } from '@pipcache/shared';
import { MAX_METADATA_BYTES, readSdistBuildRequires, readSdistMetadata, readWheelMetadata } from './read-metadata.js';

const METADATA = [
  'Metadata-Version: 2.1',
  'Name: Demo_Pkg',
  'Version: 1.2.3',
  'Summary: a demo',
  '  continued summary',
  'Requires-Python: >=3.8',
  'Provides-Extra: Fast',
  'Requires-Dist: requests (>=2.0)',
  "Requires-Dist: uvloop ; extra == 'fast'",
  'Description-Content-Type: text/markdown',
  '',
  'Requires-Dist: not-a-header-this-is-the-body',
  '',
].join('\n');

let dir: string;

const MAKE = String.raw`
import io, json, sys, tarfile, zipfile
out = sys.argv[1]
meta = sys.argv[2]
def tar(name, files, mode='w:gz'):
    with tarfile.open(out + '/' + name, mode) as t:
        for path, data in files:
            b = data.encode()
            info = tarfile.TarInfo(path); info.size = len(b)
            t.addfile(info, io.BytesIO(b))
def zf(name, files):
    with zipfile.ZipFile(out + '/' + name, 'w', zipfile.ZIP_DEFLATED) as z:
        for path, data in files: z.writestr(path, data)
zf('demo_pkg-1.2.3-py3-none-any.whl', [('demo_pkg/__init__.py', ''), ('demo_pkg-1.2.3.dist-info/WHEEL', 'Wheel-Version: 1.0\n'), ('demo_pkg-1.2.3.dist-info/METADATA', meta)])
zf('multi-1.0-py3-none-any.whl', [('vendored-9.9.dist-info/METADATA', 'Name: vendored\nVersion: 9.9\n'), ('multi-1.0.dist-info/METADATA', 'Name: multi\nVersion: 1.0\nRequires-Dist: x\n')])
zf('nometa-1.0-py3-none-any.whl', [('nometa/__init__.py', '')])
zf('huge-1.0-py3-none-any.whl', [('huge-1.0.dist-info/METADATA', 'Name: huge\nVersion: 1.0\n' + 'X' * (10 * 1024 * 1024 + 10))])
tar('demo_pkg-1.2.3.tar.gz', [('demo_pkg-1.2.3/setup.py', ''), ('demo_pkg-1.2.3/PKG-INFO', meta.replace('2.1', '2.2')), ('demo_pkg-1.2.3/big.bin', 'z' * 100000)])
tar('old-0.1.tar.gz', [('old-0.1/PKG-INFO', 'Metadata-Version: 1.1\nName: old\nVersion: 0.1\n'), ('old-0.1/old.egg-info/PKG-INFO', 'Metadata-Version: 1.1\nName: old\nVersion: 0.1\n'), ('old-0.1/old.egg-info/requires.txt', 'six\n\n[fast]\nuvloop\n')])
tar('srclayout-0.2.tar', [('./srclayout-0.2/src/srclayout.egg-info/requires.txt', 'attrs\n'), ('./srclayout-0.2/PKG-INFO', 'Metadata-Version: 1.2\nName: srclayout\nVersion: 0.2\n')], 'w')
tar('nopkginfo-1.0.tar.gz', [('nopkginfo-1.0/setup.py', '')])
tar('deep-1.0.tar.gz', [('deep-1.0/sub/PKG-INFO', 'Name: deep\nVersion: 1.0\n')])
tar('built-1.0.tar.gz', [('built-1.0/PKG-INFO', 'Metadata-Version: 2.2\nName: built\nVersion: 1.0\n'), ('built-1.0/pyproject.toml', '[build-system]\nrequires = ["hatchling>=1"]\n')])
zf('zipped-1.0.zip', [('zipped-1.0/PKG-INFO', 'Metadata-Version: 2.2\nName: zipped\nVersion: 1.0\nRequires-Dist: a\n')])
with open(out + '/corrupt-1.0.tar.gz', 'wb') as f: f.write(b'\x1f\x8b\x08\x00garbage' * 10)
with open(out + '/corrupt-1.0-py3-none-any.whl', 'wb') as f: f.write(b'PK not really a zip')
`;

let made: Promise<void> | undefined;
/**
 * The archives are made once by python3's zipfile/tarfile, for the suites
 * that read them; without python3 those tests cannot run and must fail.
 */
function makeArchives(): Promise<void> {
  made ??= (async () => {
    dir = await mkdtemp(join(tmpdir(), 'pipcache-meta-'));
    try {
      execFileSync('python3', ['-c', MAKE, dir, METADATA], { stdio: 'pipe', timeout: 60_000 });
    } catch (err) {
      throw new Error(`python3 could not build the test archives: ${(err as Error).message}`, { cause: err });
    }
  })();
  return made;
}
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('readWheelMetadata', () => {
  beforeAll(makeArchives);
  it('reads *.dist-info/METADATA', async () => {
    const md = await readWheelMetadata(join(dir, 'demo_pkg-1.2.3-py3-none-any.whl'));
    expect(md.name).toBe('Demo_Pkg');
    expect(md.requiresDist).toEqual(['requests (>=2.0)', "uvloop ; extra == 'fast'"]);
  });
  it('prefers the dist-info named after the wheel', async () => {
    expect((await readWheelMetadata(join(dir, 'multi-1.0-py3-none-any.whl'))).name).toBe('multi');
  });
  it('rejects wheels without METADATA, oversized METADATA, and non-zips', async () => {
    const err = async (name: string): Promise<PipcacheError> =>
      (await readWheelMetadata(join(dir, name)).catch((e: unknown) => e)) as PipcacheError;
    expect((await err('nometa-1.0-py3-none-any.whl')).message).toMatch(/has no \*\.dist-info\/METADATA/);
    expect((await err('huge-1.0-py3-none-any.whl')).message).toMatch(new RegExp(`larger than ${MAX_METADATA_BYTES}`));
    const corrupt = await err('corrupt-1.0-py3-none-any.whl');
    expect(corrupt).toBeInstanceOf(PipcacheError);
    expect(corrupt.code).toBe('E_BAD_REQUEST');
    expect((await err('absent-1.0-py3-none-any.whl')).code).toBe('E_NOT_FOUND');
  });
});

describe('readSdistMetadata', () => {
  beforeAll(makeArchives);
  it('reads PKG-INFO at the top of a tar.gz', async () => {
    const md = await readSdistMetadata(join(dir, 'demo_pkg-1.2.3.tar.gz'));
    expect(md).toMatchObject({ name: 'Demo_Pkg', version: '1.2.3', metadataVersion: '2.2', requiresPython: '>=3.8' });
    expect(md?.requiresDist).toHaveLength(2);
  });
  it('falls back to egg-info/requires.txt for old PKG-INFO', async () => {
    expect((await readSdistMetadata(join(dir, 'old-0.1.tar.gz')))?.requiresDist).toEqual(['six', 'uvloop ; extra == "fast"']);
    expect((await readSdistMetadata(join(dir, 'srclayout-0.2.tar')))?.requiresDist).toEqual(['attrs']);
  });
  it('reads zip sdists', async () => {
    expect((await readSdistMetadata(join(dir, 'zipped-1.0.zip')))?.requiresDist).toEqual(['a']);
  });
  it('returns null without a top-level PKG-INFO or for unreadable formats', async () => {
    expect(await readSdistMetadata(join(dir, 'nopkginfo-1.0.tar.gz'))).toBeNull();
    expect(await readSdistMetadata(join(dir, 'deep-1.0.tar.gz'))).toBeNull();
    await writeFile(join(dir, 'x-1.0.tar.bz2'), 'whatever');
    expect(await readSdistMetadata(join(dir, 'x-1.0.tar.bz2'))).toBeNull();
  });
  it('reports corrupt archives', async () => {
    const err = (await readSdistMetadata(join(dir, 'corrupt-1.0.tar.gz')).catch((e: unknown) => e)) as PipcacheError;
    expect(err).toBeInstanceOf(PipcacheError);
    expect(err.code).toBe('E_BAD_REQUEST');
    expect(err.message).toMatch(/corrupt-1\.0\.tar\.gz: cannot read archive/);
  });
});

describe('readSdistBuildRequires', () => {
  beforeAll(makeArchives);
  it('reads [build-system].requires, falls back to the legacy pair, and gives null for unreadable formats', async () => {
    expect(await readSdistBuildRequires(join(dir, 'built-1.0.tar.gz'))).toEqual(['hatchling>=1']);
    expect(await readSdistBuildRequires(join(dir, 'old-0.1.tar.gz'))).toEqual(['setuptools>=40.8.0', 'wheel']);
    await writeFile(join(dir, 'y-1.0.tar.bz2'), 'whatever');
    expect(await readSdistBuildRequires(join(dir, 'y-1.0.tar.bz2'))).toBeNull();
  });
});
