/**
 * Packages the benchmarks serve, built once into bench/.work/<name>/ and
 * reused while intact and built from the same specs (a manifest records both).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildPackages, type BuiltFile, type PackageSpec } from '../../test/fixtures/packages.js';
import { log, mb, workDir } from './common.js';

export const BIG_WHEEL_PROJECT = 'bigwheel';
const MiB = 1024 * 1024;

interface Manifest {
  specs: string;
  files: BuiltFile[];
}

async function intact(f: BuiltFile): Promise<boolean> {
  return existsSync(f.path) && (await stat(f.path)).size === f.size && (!f.metadata || existsSync(f.metadata.path));
}

/** `specs` built into bench/.work/`name`/, or the files already there when they match. */
export async function prebuilt(name: string, specs: PackageSpec[]): Promise<BuiltFile[]> {
  const dir = await workDir(name);
  const manifestPath = join(dir, 'manifest.json');
  const fingerprint = createHash('sha256').update(JSON.stringify(specs)).digest('hex');
  if (existsSync(manifestPath)) {
    const m = JSON.parse(await readFile(manifestPath, 'utf8')) as Partial<Manifest>;
    if (m.specs === fingerprint && m.files && (await Promise.all(m.files.map(intact))).every(Boolean)) {
      log(`reusing ${m.files.length} file(s) in ${dir} (${mb(m.files.reduce((a, f) => a + f.size, 0))} MiB)`);
      return m.files;
    }
  }
  log(`building ${specs.length} package(s) into ${dir} (once)`);
  await rm(manifestPath, { force: true });
  const files = await buildPackages(specs, dir);
  await writeFile(manifestPath, JSON.stringify({ specs: fingerprint, files } satisfies Manifest, null, 2));
  return files;
}

/** `bigwheel-1.0.0` with `sizeMb` MiB of random payload. */
export async function bigWheel(sizeMb: number): Promise<BuiltFile> {
  const [f] = await prebuilt(`bigwheel-${sizeMb}mb`, [{ name: BIG_WHEEL_PROJECT, version: '1.0.0', payloadBytes: sizeMb * MiB, kind: 'wheel' }]);
  if (!f) throw new Error('the big wheel was not built');
  return f;
}
