import { describe, expect, it } from 'vitest';
import { RecentBytes } from './recent-bytes.js';

const bytes = (from: number, n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (from + i) % 251));
const joined = (parts: Buffer[] | null): Buffer | null => (parts === null ? null : Buffer.concat(parts));

describe('RecentBytes', () => {
  it('gives any range of what it holds, across chunk boundaries', () => {
    const r = new RecentBytes(1000);
    for (const [from, n] of [[0, 10], [10, 7], [17, 1], [18, 30]] as const) r.push(bytes(from, n));
    expect(r.received).toBe(48);
    for (let from = 0; from < 48; from++) {
      for (let to = from + 1; to <= 48; to++) expect(joined(r.slice(from, to, 1e9))).toEqual(bytes(from, to - from));
    }
  });

  it('stops at `to`, at what was received and at `max`', () => {
    const r = new RecentBytes(1000);
    r.push(bytes(0, 100));
    r.push(bytes(100, 100));
    expect(joined(r.slice(50, 199, 1e9))).toEqual(bytes(50, 149)); // the last byte held back by the caller
    expect(joined(r.slice(150, 1e9, 1e9))).toEqual(bytes(150, 50));
    expect(joined(r.slice(10, 200, 25))).toEqual(bytes(10, 25));
    expect(r.slice(200, 300, 1e9)).toBeNull(); // not received yet
    expect(r.slice(20, 20, 1e9)).toBeNull(); // nothing readable
  });

  it('drops the oldest chunks beyond its budget, keeping the newest whole', () => {
    const r = new RecentBytes(100);
    r.push(bytes(0, 60));
    r.push(bytes(60, 60));
    expect(r.slice(0, 120, 1e9)).toBeNull(); // fell out: read the file
    expect(joined(r.slice(60, 120, 1e9))).toEqual(bytes(60, 60));
    r.push(bytes(120, 500)); // larger than the budget on its own: still kept
    expect(r.slice(60, 620, 1e9)).toBeNull();
    expect(joined(r.slice(120, 620, 1e9))).toEqual(bytes(120, 500));
  });

  it('forgets everything on clear', () => {
    const r = new RecentBytes(100);
    r.push(bytes(0, 50));
    r.clear();
    expect(r.received).toBe(0);
    expect(r.slice(0, 50, 1e9)).toBeNull();
  });
});
