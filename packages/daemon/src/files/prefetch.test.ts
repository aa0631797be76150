import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { PREFETCH_CONCURRENT, Prefetcher } from './prefetch.js';

const log = pino({ level: 'silent' });

/** A download that ends when told to. */
function pending(): { promise: Promise<void>; end: () => void; fail: () => void } {
  let end = (): void => undefined;
  let fail = (): void => undefined;
  const promise = new Promise<void>((resolve, reject) => {
    end = resolve;
    fail = () => reject(new Error('reset'));
  });
  return { promise, end, fail };
}

describe('Prefetcher', () => {
  it('takes archives up to the size limit and declines unknown sizes and 0 (off)', () => {
    let max = 1000;
    const p = new Prefetcher(() => max, log);
    const started: string[] = [];
    const start = (name: string) => () => {
      started.push(name);
      return new Promise<void>(() => undefined);
    };
    expect(p.offer('a.whl', 1000, start('a'))).toBe(true);
    expect(p.offer('b.whl', 1001, start('b'))).toBe(false);
    expect(p.offer('c.whl', null, start('c'))).toBe(false);
    max = 0;
    expect(p.offer('d.whl', 1, start('d'))).toBe(false);
    expect(started).toEqual(['a']);
  });

  it(`runs at most ${PREFETCH_CONCURRENT} at once and takes more as they end, failed or not`, async () => {
    const p = new Prefetcher(() => 1e9, log);
    const runs = Array.from({ length: PREFETCH_CONCURRENT }, () => pending());
    runs.forEach((r, i) => expect(p.offer(`${i}.whl`, 1, () => r.promise)).toBe(true));
    expect(p.active).toBe(PREFETCH_CONCURRENT);
    expect(p.offer('more.whl', 1, () => Promise.resolve())).toBe(false);
    runs[0]?.end();
    runs[1]?.fail();
    await new Promise((resolve) => setImmediate(resolve));
    expect(p.active).toBe(PREFETCH_CONCURRENT - 2);
    expect(p.offer('more.whl', 1, () => Promise.resolve())).toBe(true);
  });
});
