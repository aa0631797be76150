import { describe, expect, it } from 'vitest';
import type { LedgerBlob } from './blob-ledger.js';
import { planEviction, type PlanInput } from './eviction-plan.js';

const sha = (c: string): string => c.repeat(64);
const blob = (c: string, size: number, lastUsed: number): LedgerBlob => ({ sha256: sha(c), size, lastUsed, holders: 1 });

function plan(blobs: LedgerBlob[], over: Partial<PlanInput> = {}): ReturnType<typeof planEviction> {
  return planEviction({
    blobs,
    total: blobs.reduce((a, b) => a + b.size, 0),
    pending: 0,
    cap: 100,
    isPinned: () => false,
    isHeld: () => false,
    ...over,
  });
}

describe('planEviction', () => {
  it('does nothing at or under the cap', () => {
    const p = plan([blob('a', 60, 1), blob('b', 40, 2)]);
    expect(p).toMatchObject({ victims: [], need: 0, short: false });
  });

  it('takes the least recently used first, down to the low-water mark (90%)', () => {
    const blobs = [blob('a', 30, 30), blob('b', 30, 10), blob('c', 30, 20), blob('d', 20, 40)];
    const p = plan(blobs); // 110 stored, cap 100: 20 must go to reach 90
    expect(p.need).toBe(20);
    expect(p.victims.map((v) => v.sha256)).toEqual([sha('b')]);
    expect(p.bytes).toBe(30);
  });

  it('counts the bytes downloads are about to publish', () => {
    const p = plan([blob('a', 40, 1), blob('b', 40, 2)], { pending: 30 }); // 80 + 30 > 100
    expect(p.need).toBe(20);
    expect(p.victims.map((v) => v.sha256)).toEqual([sha('a')]);
  });

  it('never takes a pinned blob or one in use, and says when that leaves it short', () => {
    const blobs = [blob('a', 50, 1), blob('b', 50, 2), blob('c', 50, 3)];
    const p = plan(blobs, { isPinned: (s) => s === sha('a'), isHeld: (s) => s === sha('b') });
    expect(p.victims.map((v) => v.sha256)).toEqual([sha('c')]);
    expect(p).toMatchObject({ need: 60, bytes: 50, pinnedBytes: 50, heldBytes: 50, short: true });
  });

  it('evicts nothing when pinned blobs alone exceed the cap, and reports their bytes', () => {
    const p = plan([blob('a', 80, 1), blob('b', 80, 2)], { isPinned: () => true });
    expect(p).toMatchObject({ victims: [], pinnedBytes: 160, short: true });
  });

  it('breaks ties in a stable order', () => {
    const p = plan([blob('b', 60, 5), blob('a', 60, 5)]);
    expect(p.victims.map((v) => v.sha256)).toEqual([sha('a')]);
  });
});
