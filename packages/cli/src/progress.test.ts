import { describe, expect, it } from 'vitest';
import { progressBar } from './progress.js';

function fakeStream(isTTY: boolean) {
  const out: string[] = [];
  return { out, stream: { isTTY, write: (s: string) => out.push(s) } as unknown as NodeJS.WriteStream };
}

describe('progressBar', () => {
  it('draws a bar for a large export on a terminal and clears it at the end', () => {
    const { out, stream } = fakeStream(true);
    const bar = progressBar(stream);
    bar.update({ phase: 'writing', done: 50, total: 50, bytes: 1024, totalBytes: 1024 });
    bar.done();
    expect(out[0]).toContain('[########################] 50/50 files');
    expect(out.at(-1)).toBe('\r\x1b[K');
  });

  it('stays silent for small exports and when not on a terminal', () => {
    const small = fakeStream(true);
    progressBar(small.stream).update({ phase: 'writing', done: 1, total: 3, bytes: 10, totalBytes: 30 });
    expect(small.out).toEqual([]);
    const piped = fakeStream(false);
    progressBar(piped.stream).update({ phase: 'writing', done: 50, total: 50, bytes: 1, totalBytes: 1 });
    expect(piped.out).toEqual([]);
  });
});
