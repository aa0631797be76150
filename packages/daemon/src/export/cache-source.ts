import { readFile } from 'node:fs/promises';
import { parseArchiveFilename, parseCoreMetadata } from '@pipcache/pep';
import type { FileService } from '../files/file-service.js';
import type { PageService } from '../pages/page-service.js';
import type { BlobStore } from '../store/blob-store.js';
import { pickByOrigin, recordKey, type FileRecord, type Catalog } from '../store/catalog.js';
import { readSdistMetadata, readWheelMetadata } from '../archive/read-metadata.js';
import type { CandidateFile, CandidateSource } from './resolver.js';

export interface CacheSourceDeps {
  catalog: Catalog;
  blobs: BlobStore;
  pages: PageService;
  files: FileService;
  /** Online: refresh pages and fetch what is missing; offline: the cache only. */
  online: boolean;
  /** The simple roots of the indexes whose pages are refreshed (online). */
  indexRoots: URL[];
  /** Which index a file is taken from when several list it. */
  originOrder: string[];
  /** --no-deps: report no dependencies. */
  noDeps: boolean;
}

/**
 * The resolver's view of the cache. Offline it sees stored files only;
 * online it refreshes each project's page first and sees every listed file,
 * fetching metadata (PEP 658 file, else the archive) when it needs it.
 */
export class CacheSource implements CandidateSource {
  private readonly refreshed = new Set<string>();
  private readonly requirements = new Map<string, Promise<string[] | null>>();

  constructor(private readonly deps: CacheSourceDeps) {}

  private async records(project: string): Promise<FileRecord[]> {
    if (this.deps.online && !this.refreshed.has(project)) {
      this.refreshed.add(project);
      await Promise.all(this.deps.indexRoots.map((root) => this.deps.pages.get(root, project).catch(() => null)));
    }
    const usable = this.deps.catalog.projectFiles(project).filter((r) => this.deps.online || r.stored);
    // One record per filename: the one from the index that comes first in the stated order.
    const byName = new Map<string, FileRecord[]>();
    for (const r of usable) byName.set(r.filename, [...(byName.get(r.filename) ?? []), r]);
    return [...byName.values()].map((recs) => pickByOrigin(recs, this.deps.originOrder) as FileRecord);
  }

  async versions(project: string): Promise<{ version: string; files: CandidateFile[] }[]> {
    const byVersion = new Map<string, CandidateFile[]>();
    for (const r of await this.records(project)) {
      const parsed = parseArchiveFilename(r.filename, r.project);
      if (!parsed) continue;
      const list = byVersion.get(r.version) ?? [];
      list.push({
        filename: r.filename,
        kind: r.kind,
        yanked: r.yanked,
        ...(r.requiresPython ? { requiresPython: r.requiresPython } : {}),
        ...(parsed.tags ? { tags: parsed.tags } : {}),
      });
      byVersion.set(r.version, list);
    }
    return [...byVersion].map(([version, files]) => ({ version, files }));
  }

  requiresDist(project: string, version: string): Promise<string[] | null> {
    if (this.deps.noDeps) return Promise.resolve([]);
    const key = `${project}\u0000${version}`;
    let p = this.requirements.get(key);
    if (!p) {
      p = this.readRequires(project, version);
      this.requirements.set(key, p);
    }
    return p;
  }

  private async readRequires(project: string, version: string): Promise<string[] | null> {
    const recs = (await this.records(project)).filter((r) => r.version === version);
    const key = recordKey;
    // Cheapest first: a stored .metadata, a stored wheel, a stored sdist; then fetch.
    const withMeta = recs.find((r) => r.metadataStored);
    if (withMeta?.metadataStored) return parseCoreMetadata(await readFile(this.deps.blobs.path(withMeta.metadataStored), 'utf8')).requiresDist;
    const wheel = recs.find((r) => r.kind === 'wheel' && r.stored && r.sha256);
    if (wheel?.sha256) return (await readWheelMetadata(this.deps.blobs.path(wheel.sha256))).requiresDist;
    const sdist = recs.find((r) => r.kind === 'sdist' && r.stored && r.sha256);
    if (sdist?.sha256) {
      const meta = await readSdistMetadata(this.deps.blobs.path(sdist.sha256), sdist.filename).catch(() => null);
      if (meta) return meta.requiresDist;
    }
    if (!this.deps.online) return null;
    const remoteMeta = recs.find((r) => r.coreMetadata !== false && r.coreMetadata.hashes.sha256);
    if (remoteMeta) {
      const path = await this.deps.files.ensureStored({ key: key(remoteMeta), metadata: true });
      return parseCoreMetadata(await readFile(path, 'utf8')).requiresDist;
    }
    const anyWheel = recs.find((r) => r.kind === 'wheel' && r.sha256);
    if (anyWheel) return (await readWheelMetadata(await this.deps.files.ensureStored({ key: key(anyWheel), metadata: false }))).requiresDist;
    const anySdist = recs.find((r) => r.kind === 'sdist' && r.sha256);
    if (anySdist) {
      const meta = await readSdistMetadata(await this.deps.files.ensureStored({ key: key(anySdist), metadata: false }), anySdist.filename).catch(() => null);
      return meta ? meta.requiresDist : null;
    }
    return null;
  }
}
