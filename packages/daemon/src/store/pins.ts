import type { Catalog, FileRecord, PinnedFile, PinSet } from './catalog.js';

/** What the daemon knows of one pinned blob: how many pin sets hold it, and its size. */
interface Held {
  sets: number;
  size: number;
}

/** A pin set as `pipcache pins` lists it. */
export interface PinSetSummary {
  name: string;
  created: string;
  updated: string;
  files: number;
  /** Distinct pinned blobs (archives and `.metadata`) of the set. */
  bytes: number;
}

/**
 * The pin set entry of a file record: its archive and its `.metadata`
 * (stored, or as the index promises it, so that it is kept once fetched).
 * Null for a record with no digest: nothing can be kept by digest then.
 */
export function pinnedFile(rec: FileRecord, key: PinnedFile['key']): PinnedFile | null {
  if (rec.sha256 === null) return null;
  const promised = rec.coreMetadata === false ? undefined : rec.coreMetadata.hashes['sha256'];
  const metadata = rec.metadataStored ?? promised ?? null;
  return {
    key,
    sha256: rec.sha256,
    size: rec.storedSize ?? rec.size ?? 0,
    metadata,
    metadataSize: rec.metadataStored !== null ? rec.metadataSize : null,
  };
}

/** Every blob of a set, each once, with its size. */
function blobsOf(files: readonly PinnedFile[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const f of files) {
    out.set(f.sha256, Math.max(out.get(f.sha256) ?? 0, f.size));
    if (f.metadata !== null) out.set(f.metadata, Math.max(out.get(f.metadata) ?? 0, f.metadataSize ?? 0));
  }
  return out;
}

function summarize(set: PinSet): PinSetSummary {
  const bytes = [...blobsOf(set.files).values()].reduce((a, n) => a + n, 0);
  return { name: set.name, created: set.created, updated: set.updated, files: set.files.length, bytes };
}

/**
 * The pin sets: recorded in the catalog, and mirrored in memory as a digest
 * -> pin set count map so that `isPinned` is a map lookup (eviction asks it
 * for every candidate). While a set is replaced or removed, memory holds the
 * union of old and new: a blob is never unpinned in memory before the
 * catalog forgets it, nor pinned in the catalog before memory holds it.
 * Changes are applied one at a time, in the order they were asked.
 */
export class Pins {
  private readonly held = new Map<string, Held>();
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly catalog: Catalog) {}

  /** Loads every recorded pin set. */
  static load(catalog: Catalog): Pins {
    const pins = new Pins(catalog);
    for (const set of catalog.pinSets()) pins.hold(blobsOf(set.files));
    return pins;
  }

  isPinned(sha256: string): boolean {
    return this.held.has(sha256);
  }

  /** Bytes of the distinct pinned blobs (each counted once, whichever sets hold it). */
  pinnedBytes(): number {
    let bytes = 0;
    for (const h of this.held.values()) bytes += h.size;
    return bytes;
  }

  get(name: string): PinSet | undefined {
    return this.catalog.getPinSet(name);
  }

  list(): PinSetSummary[] {
    return [...this.catalog.pinSets()].map(summarize);
  }

  summary(name: string): PinSetSummary | undefined {
    const set = this.catalog.getPinSet(name);
    return set && summarize(set);
  }

  /** Records `name` as exactly `files` (replacing what it held); returns the set. */
  set(name: string, files: readonly PinnedFile[]): Promise<PinSet> {
    return this.serial(() => this.write(name, files));
  }

  /** Adds `files` to `name` (created when there is none); returns the set. */
  add(name: string, files: readonly PinnedFile[]): Promise<PinSet> {
    return this.serial(() => {
      const old = this.catalog.getPinSet(name)?.files ?? [];
      const have = new Set(old.map((f) => f.sha256));
      return this.write(name, [...old, ...files.filter((f) => !have.has(f.sha256))]);
    });
  }

  /** Forgets `name`; the set it held, or undefined when there was none. */
  remove(name: string): Promise<PinSet | undefined> {
    return this.serial(async () => {
      const old = this.catalog.getPinSet(name);
      if (!old) return undefined;
      await this.catalog.removePinSet(name);
      this.release(blobsOf(old.files));
      return old;
    });
  }

  private async write(name: string, files: readonly PinnedFile[]): Promise<PinSet> {
    const old = this.catalog.getPinSet(name);
    const now = new Date().toISOString();
    const unique = [...new Map(files.map((f) => [`${f.key.join(' ')} ${f.sha256}`, f])).values()];
    const set: PinSet = { name, created: old?.created ?? now, updated: now, files: unique };
    const added = blobsOf(set.files);
    this.hold(added);
    try {
      await this.catalog.putPinSet(set);
    } catch (err) {
      this.release(added);
      throw err;
    }
    if (old) this.release(blobsOf(old.files));
    return set;
  }

  private hold(blobs: Map<string, number>): void {
    for (const [sha256, size] of blobs) {
      const h = this.held.get(sha256);
      if (h) {
        h.sets++;
        h.size = Math.max(h.size, size);
      } else this.held.set(sha256, { sets: 1, size });
    }
  }

  private release(blobs: Map<string, number>): void {
    for (const sha256 of blobs.keys()) {
      const h = this.held.get(sha256);
      if (!h) continue;
      if (--h.sets <= 0) this.held.delete(sha256);
    }
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.queue.then(op);
    this.queue = next.catch(() => undefined);
    return next;
  }
}
