import type { LedgerBlob } from './blob-ledger.js';

/** Eviction stops once the stored bytes are at or under this share of the cap. */
export const LOW_WATER = 0.9;

export interface PlanInput {
  /** Every stored blob (the ledger's). */
  blobs: Iterable<LedgerBlob>;
  /** Bytes stored now. */
  total: number;
  /** Bytes downloads in flight are about to publish. */
  pending: number;
  cap: number;
  isPinned: (sha256: string) => boolean;
  /** A blob being read or downloaded: never a victim. */
  isHeld: (sha256: string) => boolean;
  lowWater?: number;
}

export interface Plan {
  /** Least recently used first; evicting all of them reaches the low-water mark unless `short`. */
  victims: LedgerBlob[];
  /** Bytes the victims free. */
  bytes: number;
  /** Bytes that must go to reach the low-water mark (0: under the cap, nothing to do). */
  need: number;
  /** Bytes of pinned blobs. */
  pinnedBytes: number;
  /** Bytes skipped because they are being read or downloaded. */
  heldBytes: number;
  /** The victims do not free `need` (pins and leases leave too little to evict). */
  short: boolean;
}

/** Stored plus announced bytes cross the cap. */
export function overCap(total: number, pending: number, cap: number): boolean {
  return total + pending > cap;
}

/**
 * Which blobs to evict when the stored bytes plus those about to be
 * published cross the cap: the least recently served or stored first, never
 * a pinned one or one in use, until the total is down to the low-water mark
 * (so that eviction runs once per tenth of the cap, not on every publish).
 */
export function planEviction(input: PlanInput): Plan {
  const lowWater = input.lowWater ?? LOW_WATER;
  const over = overCap(input.total, input.pending, input.cap);
  const need = over ? input.total + input.pending - Math.floor(input.cap * lowWater) : 0;
  let pinnedBytes = 0;
  let heldBytes = 0;
  const candidates: LedgerBlob[] = [];
  for (const b of input.blobs) {
    if (input.isPinned(b.sha256)) pinnedBytes += b.size;
    else if (input.isHeld(b.sha256)) heldBytes += b.size;
    else if (need > 0) candidates.push(b);
  }
  candidates.sort((a, b) => a.lastUsed - b.lastUsed || (a.sha256 < b.sha256 ? -1 : 1));
  const victims: LedgerBlob[] = [];
  let bytes = 0;
  for (const b of candidates) {
    if (bytes >= need) break;
    victims.push(b);
    bytes += b.size;
  }
  return { victims, bytes, need, pinnedBytes, heldBytes, short: bytes < need };
}
