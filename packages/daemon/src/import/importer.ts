import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { ImportResult } from '@pipcache/shared';
import { parseArchiveFilename } from '@pipcache/pep';
import { readSdistMetadata, readWheelMetadata } from '../archive/read-metadata.js';
import type { BlobStore } from '../store/blob-store.js';
import { fileKey, type Catalog } from '../store/catalog.js';

export interface ImporterDeps {
  catalog: Catalog;
  blobs: BlobStore;
  log: Logger;
  /** The origin imported files are listed under (its pages show them). */
  origin: () => string;
  onListingChanged: (origin: string, project: string) => void;
}

const MAX_DEPTH = 8;

async function* walk(path: string, depth = 0): AsyncGenerator<string> {
  const st = await stat(path);
  if (st.isFile()) {
    yield path;
    return;
  }
  if (!st.isDirectory() || depth >= MAX_DEPTH) return;
  for (const entry of (await readdir(path)).sort()) {
    if (entry.startsWith('.')) continue;
    yield* walk(join(path, entry), depth + 1);
  }
}

/**
 * Indexes existing wheels and sdists (an old `packages/` directory, pip's
 * wheel cache): each is checked to be a readable archive of the project its
 * name says, hashed on the way into the blob store, and listed in the index.
 */
export class Importer {
  constructor(private readonly deps: ImporterDeps) {}

  async importPaths(paths: string[]): Promise<ImportResult> {
    const result: ImportResult = { imported: [], already: [], skipped: [] };
    for (const p of paths) {
      try {
        for await (const file of walk(resolve(p))) await this.importFile(file, result);
      } catch (err) {
        result.skipped.push({ path: p, reason: (err as Error).message });
      }
    }
    return result;
  }

  async importFile(path: string, result: ImportResult): Promise<void> {
    const filename = basename(path);
    const parsed = parseArchiveFilename(filename);
    if (!parsed) {
      result.skipped.push({ path, reason: 'not a wheel or sdist file name' });
      return;
    }
    let requiresPython: string | undefined;
    try {
      const meta = parsed.kind === 'wheel' ? await readWheelMetadata(path) : await readSdistMetadata(path);
      requiresPython = meta?.requiresPython;
    } catch (err) {
      result.skipped.push({ path, reason: `not a readable ${parsed.kind}: ${(err as Error).message}` });
      return;
    }
    const origin = this.deps.origin();
    const key = fileKey(parsed.project, parsed.version, filename, origin);
    const writer = this.deps.blobs.createWriter();
    let sha256: string;
    let size: number;
    try {
      for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) {
        if (!writer.write(chunk as Buffer, () => undefined)) await writer.waitDrain();
      }
      ({ sha256, size } = await writer.commit(null));
    } catch (err) {
      await writer.abort();
      result.skipped.push({ path, reason: (err as Error).message });
      return;
    }
    const existing = this.deps.catalog.getFile(key);
    const entry = { path, project: parsed.project, version: parsed.version, filename, sha256, size };
    if (existing?.sha256 && existing.sha256 !== sha256) {
      result.skipped.push({ path, reason: `differs from the index's sha256 ${existing.sha256} for this file name` });
      return;
    }
    if (existing?.stored) {
      result.already.push(entry);
      return;
    }
    const now = new Date().toISOString();
    if (existing) {
      await this.deps.catalog.updateFile(key, (r) => ({ ...r, sha256, size, stored: true, storedSize: size }));
    } else {
      await this.deps.catalog.putFile({
        project: parsed.project,
        version: parsed.version,
        filename,
        kind: parsed.kind,
        origin,
        // An address on the intercepted index host that maps back to this blob.
        url: `https://${origin}/pipcache/imported/${sha256}/${encodeURIComponent(filename)}`,
        sha256,
        size,
        ...(requiresPython ? { requiresPython } : {}),
        yanked: false,
        coreMetadata: false,
        firstSeen: now,
        lastServed: null,
        hits: 0,
        stored: true,
        storedSize: size,
        metadataStored: null,
        metadataSize: null,
        goneUpstream: false,
        imported: true,
      });
    }
    this.deps.onListingChanged(origin, parsed.project);
    this.deps.log.info({ path, project: parsed.project, version: parsed.version, sha256 }, 'imported');
    result.imported.push(entry);
  }
}
