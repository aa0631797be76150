import type { LsFile, LsResult } from '@pipcache/shared';
import { normalizeName } from '@pipcache/pep';
import type { FileRecord } from '../store/catalog.js';
import type { ControlServices } from './services.js';

function toLs(f: FileRecord, isPinned: (sha256: string) => boolean): LsFile {
  return {
    project: f.project,
    version: f.version,
    filename: f.filename,
    size: f.size,
    sha256: f.sha256,
    stored: f.stored,
    goneUpstream: f.goneUpstream,
    imported: f.imported === true,
    yanked: f.yanked,
    hits: f.hits,
    lastServed: f.lastServed,
    pinned: f.sha256 !== null && isPinned(f.sha256),
  };
}

/** Projects with counts; with a project, its files too (stored or only listed). */
export function ls(services: ControlServices, args: { project?: unknown }): LsResult {
  const project = typeof args.project === 'string' && args.project ? normalizeName(args.project) : undefined;
  const byProject = new Map<string, { versions: Set<string>; files: number; storedFiles: number; bytes: number }>();
  const files: LsFile[] = [];
  const source = project ? services.catalog.projectFiles(project) : services.catalog.allFiles();
  for (const f of source) {
    if (!project && !f.stored) continue;
    let p = byProject.get(f.project);
    if (!p) byProject.set(f.project, (p = { versions: new Set(), files: 0, storedFiles: 0, bytes: 0 }));
    p.files++;
    if (f.stored) {
      p.versions.add(f.version);
      p.storedFiles++;
      p.bytes += f.storedSize ?? f.size ?? 0;
    }
    if (project) files.push(toLs(f, (sha256) => services.pins.isPinned(sha256)));
  }
  return {
    projects: [...byProject].map(([name, p]) => ({ name, versions: p.versions.size, files: p.files, storedFiles: p.storedFiles, bytes: p.bytes })),
    ...(project ? { files } : {}),
  };
}
