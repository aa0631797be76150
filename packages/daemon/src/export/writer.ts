import { randomBytes } from 'node:crypto';
import { copyFile, link, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PipcacheError, type ExportResult } from '@pipcache/shared';
import { isSafeFilename, parseArchiveFilename } from '@pipcache/pep';
import { sha256Of } from '../store/digest.js';

export interface ExportItem {
  filename: string;
  blobPath: string;
  sha256: string;
  size: number;
}

export type ExportAction = 'linked' | 'copied' | 'skipped';

export type ExportSummary = Pick<ExportResult, 'dir' | 'files' | 'bytes' | 'linked' | 'copied' | 'skipped' | 'pruned'> & {
  written: { filename: string; sha256: string; size: number; action: ExportAction }[];
};

async function sizeOf(path: string): Promise<number | null> {
  try {
    const st = await stat(path);
    return st.isFile() ? st.size : null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** True when `dir/filename` already holds exactly this content. */
export async function alreadyThere(dir: string, item: ExportItem): Promise<boolean> {
  const path = join(dir, item.filename);
  return (await sizeOf(path)) === item.size && (await sha256Of(path)) === item.sha256;
}

/** The cached blob behind an item is damaged (wrong digest) or gone. */
class DamagedBlob extends PipcacheError {}

/**
 * Places one file: hardlinked from the blob when DIR is on the same
 * filesystem, else copied; under a temp name, verified, then renamed.
 * Throws DamagedBlob when the cached copy is not what its digest says.
 */
async function place(dir: string, item: ExportItem): Promise<ExportAction> {
  const target = join(dir, item.filename);
  const tmp = join(dir, `.${item.filename}.${randomBytes(6).toString('hex')}.pipcache-tmp`);
  let action: ExportAction = 'linked';
  try {
    try {
      try {
        await link(item.blobPath, tmp);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK' && code !== 'ENOTSUP') throw err;
        await copyFile(item.blobPath, tmp);
        action = 'copied';
      }
    } catch (err) {
      // ENOENT from link or copy can only be the source: DIR exists.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      throw new DamagedBlob('E_HASH_MISMATCH', `${item.filename}: the cached copy is missing`, { cause: err });
    }
    const digest = await sha256Of(tmp);
    if (digest !== item.sha256) {
      throw new DamagedBlob('E_HASH_MISMATCH', `${item.filename}: the cached copy hashes to ${digest}, expected ${item.sha256}; not exported`);
    }
    await rename(tmp, target);
    return action;
  } catch (err) {
    await rm(tmp, { force: true });
    if (err instanceof PipcacheError) throw err;
    throw new PipcacheError('E_DISK', `cannot write ${target}: ${(err as Error).message}`, { cause: err });
  }
}

async function placeOrRepair(dir: string, item: ExportItem, replace: ((item: ExportItem) => Promise<string>) | undefined): Promise<ExportAction> {
  try {
    return await place(dir, item);
  } catch (err) {
    if (!(err instanceof DamagedBlob) || !replace) throw err;
    return place(dir, { ...item, blobPath: await replace(item) });
  }
}

/**
 * Writes a find-links directory. Files already present with the same content
 * are skipped; nothing is deleted unless `prune`, which removes archives
 * (wheels, sdists) in DIR that are not part of this export.
 */
export async function writeExport(
  dir: string,
  items: ExportItem[],
  opts: {
    prune: boolean;
    onProgress?: (done: number, bytes: number) => void;
    /**
     * Called when an item's cached blob turns out damaged: drops it, fetches
     * it again and returns the new blob path (the file is then placed once
     * more). Without it, a damaged blob fails the export.
     */
    replaceDamaged?: (item: ExportItem) => Promise<string>;
  },
): Promise<ExportSummary> {
  for (const item of items) {
    if (!isSafeFilename(item.filename)) throw new PipcacheError('E_BAD_FILENAME', `refusing to write ${JSON.stringify(item.filename)}`);
  }
  await mkdir(dir, { recursive: true });
  const summary: ExportSummary = { dir, files: 0, bytes: 0, linked: 0, copied: 0, skipped: 0, pruned: [], written: [] };
  const seen = new Set<string>();
  for (const item of items) {
    if (seen.has(item.filename)) continue;
    seen.add(item.filename);
    const action = (await alreadyThere(dir, item)) ? 'skipped' : await placeOrRepair(dir, item, opts.replaceDamaged);
    summary[action]++;
    summary.files++;
    summary.bytes += item.size;
    summary.written.push({ filename: item.filename, sha256: item.sha256, size: item.size, action });
    opts.onProgress?.(summary.files, summary.bytes);
  }
  if (opts.prune) {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (!entry.isFile() || seen.has(entry.name) || !parseArchiveFilename(entry.name)) continue;
      await rm(join(dir, entry.name));
      summary.pruned.push(entry.name);
    }
  }
  return summary;
}
