import { fileKeyId, recordKey, type FileKey, type FileRecord } from './catalog.js';
import { heldBlob } from './blob-role.js';

/** One stored blob as eviction sees it. */
export interface LedgerBlob {
  sha256: string;
  /** Verified byte count (0 until known, for records of an old layout; see `unsized`). */
  size: number;
  /** When it was last served or stored (ms since the epoch): eviction takes the oldest first. */
  lastUsed: number;
  /** How many (record, role) pairs hold it. */
  holders: number;
}

interface Entry {
  size: number;
  lastUsed: number;
  /** `<record id>#a` (archive) or `#m` (metadata) -> the record's key. */
  holders: Map<string, FileKey>;
}

/** The blobs one record holds, by role. */
interface Held {
  archive: string | null;
  metadata: string | null;
}

const ROLES = [
  ['archive', '#a', { metadata: false }],
  ['metadata', '#m', { metadata: true }],
] as const;

function sizeIn(rec: FileRecord, role: keyof Held): number | null {
  return role === 'metadata' ? rec.metadataSize : (rec.storedSize ?? rec.size);
}

function recencyOf(rec: FileRecord): number {
  const t = Date.parse(rec.lastServed ?? rec.firstSeen);
  return Number.isFinite(t) ? t : 0;
}

/**
 * The running total of stored bytes, per blob, with the records that hold
 * each (one blob can back several: the same archive listed by two indexes,
 * an import and a listing, one METADATA shared by a release's wheels).
 * Built by one scan of the catalog at start and then kept by every catalog
 * write (see LedgerCatalog); never by scanning the disk. Bytes count once per
 * blob however many records hold it, and leave the total when the last
 * holder lets go.
 */
export class BlobLedger {
  private readonly entries = new Map<string, Entry>();
  private readonly records = new Map<string, Held>();
  private bytes = 0;

  /**
   * `onGrow`: the total grew at run time (a publish, an import); `now`: the
   * clock that dates a blob newly stored (ms).
   */
  constructor(
    private readonly onGrow: () => void = () => undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** Bytes of every blob some record holds. */
  get totalBytes(): number {
    return this.bytes;
  }

  get blobCount(): number {
    return this.entries.size;
  }

  /** A record as read at start: no growth is announced. */
  load(rec: FileRecord): void {
    this.apply(rec, null);
  }

  /** A record as just written: a blob it newly holds counts as used now. */
  setRecord(rec: FileRecord): void {
    const before = this.bytes;
    this.apply(rec, this.now());
    if (this.bytes > before) this.onGrow();
  }

  /** A record that is gone from the catalog. */
  dropRecord(key: FileKey): void {
    const id = fileKeyId(key);
    const held = this.records.get(id);
    if (!held) return;
    for (const [role, suffix] of ROLES) this.release(held[role], id + suffix);
    this.records.delete(id);
  }

  /** A record's archive was served at `at` (ms): its blobs are used. */
  used(key: FileKey, at: number): void {
    const held = this.records.get(fileKeyId(key));
    if (!held) return;
    for (const [role] of ROLES) {
      const entry = held[role] === null ? undefined : this.entries.get(held[role]);
      if (entry && at > entry.lastUsed) entry.lastUsed = at;
    }
  }

  /** The keys of the records that hold a blob, in any role. */
  holders(sha256: string): FileKey[] {
    return [...(this.entries.get(sha256)?.holders.values() ?? [])];
  }

  blob(sha256: string): LedgerBlob | undefined {
    const e = this.entries.get(sha256);
    return e && { sha256, size: e.size, lastUsed: e.lastUsed, holders: e.holders.size };
  }

  *blobs(): Iterable<LedgerBlob> {
    for (const [sha256, e] of this.entries) yield { sha256, size: e.size, lastUsed: e.lastUsed, holders: e.holders.size };
  }

  /** Blobs whose records give no size (written by a pipcache that kept none): `setSize` them from the disk. */
  unsized(): string[] {
    return [...this.entries].filter(([, e]) => e.size === 0).map(([sha]) => sha);
  }

  setSize(sha256: string, size: number): void {
    const e = this.entries.get(sha256);
    if (!e) return;
    this.bytes += size - e.size;
    e.size = size;
  }

  private apply(rec: FileRecord, now: number | null): void {
    const id = fileKeyId(recordKey(rec));
    const old = this.records.get(id) ?? { archive: null, metadata: null };
    const next: Held = { archive: heldBlob(rec, { metadata: false }), metadata: heldBlob(rec, { metadata: true }) };
    const key = recordKey(rec);
    for (const [role, suffix] of ROLES) {
      const sha = next[role];
      if (old[role] !== sha) this.release(old[role], id + suffix);
      if (sha === null) continue;
      let entry = this.entries.get(sha);
      if (!entry) {
        const size = sizeIn(rec, role) ?? 0;
        entry = { size, lastUsed: 0, holders: new Map() };
        this.entries.set(sha, entry);
        this.bytes += size;
      } else if (entry.size === 0) {
        this.setSize(sha, sizeIn(rec, role) ?? 0);
      }
      entry.holders.set(id + suffix, key);
      const newlyHeld = old[role] !== sha && now !== null;
      entry.lastUsed = Math.max(entry.lastUsed, recencyOf(rec), newlyHeld ? now : 0);
    }
    if (next.archive === null && next.metadata === null) this.records.delete(id);
    else this.records.set(id, next);
  }

  private release(sha256: string | null, holder: string): void {
    if (sha256 === null) return;
    const e = this.entries.get(sha256);
    if (!e) return;
    e.holders.delete(holder);
    if (e.holders.size > 0) return;
    // Nothing points at it any more: the cache no longer counts it (gc removes what stays on disk).
    this.entries.delete(sha256);
    this.bytes -= e.size;
  }
}
