import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RotatingFile } from './rotating-file.js';

function home(): string {
  return mkdtempSync(join(tmpdir(), 'pc-log-'));
}

function line(i: number, pad = 40): string {
  return `${JSON.stringify({ i, msg: 'x'.repeat(pad) })}\n`;
}

/** Every generation's lines, oldest file first. */
function readAll(file: string): string[] {
  const dir = join(file, '..');
  const gens = readdirSync(dir)
    .map((n) => /\.(\d+)$/.exec(n)?.[1])
    .filter((k): k is string => k !== undefined)
    .map(Number)
    .sort((a, b) => b - a);
  const texts = [...gens.map((k) => readFileSync(`${file}.${k}`, 'utf8')), readFileSync(file, 'utf8')];
  return texts.join('').split('\n').filter(Boolean);
}

function generations(dir: string): string[] {
  return readdirSync(dir).sort();
}

describe('RotatingFile', () => {
  it('keeps every file under maxSize, lines whole and in order', async () => {
    const dir = home();
    const file = join(dir, 'daemon.log');
    const log = new RotatingFile({ file, maxSize: 1000, keep: 100 });
    for (let i = 0; i < 200; i++) log.write(line(i));
    await log.close();
    const names = generations(dir);
    expect(names.length).toBeGreaterThan(5);
    for (const name of names) {
      const text = readFileSync(join(dir, name), 'utf8');
      expect(statSync(join(dir, name)).size).toBeLessThanOrEqual(1000);
      expect(text.endsWith('\n')).toBe(true);
    }
    expect(readAll(file).map((l) => (JSON.parse(l) as { i: number }).i)).toEqual([...Array(200).keys()]);
  });

  it('keeps N generations and drops the oldest', async () => {
    const dir = home();
    const file = join(dir, 'daemon.log');
    const log = new RotatingFile({ file, maxSize: 500, keep: 3 });
    for (let i = 0; i < 300; i++) log.write(line(i));
    await log.close();
    expect(generations(dir)).toEqual(['daemon.log', 'daemon.log.1', 'daemon.log.2', 'daemon.log.3']);
    const ids = readAll(file).map((l) => (JSON.parse(l) as { i: number }).i);
    // The newest lines survive, contiguous up to the last one written.
    expect(ids.at(-1)).toBe(299);
    expect(ids).toEqual([...Array(ids.length).keys()].map((k) => 300 - ids.length + k));
  });

  it('lines from many writers at once stay whole, each exactly once', async () => {
    const dir = home();
    const file = join(dir, 'daemon.log');
    const log = new RotatingFile({ file, maxSize: 4096, keep: 1000 });
    const writer = async (w: number): Promise<void> => {
      for (let i = 0; i < 100; i++) {
        log.write(`${JSON.stringify({ w, i, pad: 'y'.repeat((w * 7 + i) % 90) })}\n`);
        if (i % 10 === 0) await new Promise((r) => setImmediate(r));
      }
    };
    await Promise.all([...Array(8).keys()].map(writer));
    await log.close();
    const seen = readAll(file).map((l) => JSON.parse(l) as { w: number; i: number });
    expect(seen).toHaveLength(800);
    expect(new Set(seen.map((s) => `${s.w}:${s.i}`)).size).toBe(800);
    for (let w = 0; w < 8; w++) {
      const mine = seen.filter((s) => s.w === w).map((s) => s.i);
      expect(mine).toEqual([...Array(100).keys()]);
    }
  });

  it('rotates a log an earlier run left past the cap before the first new line', async () => {
    const dir = home();
    const file = join(dir, 'daemon.log');
    writeFileSync(file, line(-1, 2000));
    const log = new RotatingFile({ file, maxSize: 1000, keep: 2 });
    log.write(line(0));
    await log.close();
    expect(readFileSync(`${file}.1`, 'utf8')).toBe(line(-1, 2000));
    expect(readFileSync(file, 'utf8')).toBe(line(0));
  });

  it('puts a line longer than maxSize alone in its own file', async () => {
    const dir = home();
    const file = join(dir, 'daemon.log');
    const log = new RotatingFile({ file, maxSize: 100, keep: 5 });
    log.write(line(0, 10));
    log.write(line(1, 500));
    log.write(line(2, 10));
    await log.close();
    expect(readFileSync(`${file}.2`, 'utf8')).toBe(line(0, 10));
    expect(readFileSync(`${file}.1`, 'utf8')).toBe(line(1, 500));
    expect(readFileSync(file, 'utf8')).toBe(line(2, 10));
  });

  it('takes new limits: a smaller keep drops generations at once, a smaller maxSize applies to the next line', async () => {
    const dir = home();
    const file = join(dir, 'daemon.log');
    const log = new RotatingFile({ file, maxSize: 300, keep: 5 });
    for (let i = 0; i < 60; i++) log.write(line(i));
    await new Promise<void>((r) => log.flush(() => r()));
    expect(generations(dir)).toHaveLength(6);
    log.configure({ maxSize: 100, keep: 2 });
    expect(generations(dir)).toEqual(['daemon.log', 'daemon.log.1', 'daemon.log.2']);
    log.write(line(60));
    log.write(line(61));
    await log.close();
    expect(readFileSync(file, 'utf8')).toBe(line(61));
    expect(readFileSync(`${file}.1`, 'utf8')).toBe(line(60));
  });

  it('flushSync writes what is queued before returning', () => {
    const dir = home();
    const file = join(dir, 'daemon.log');
    const log = new RotatingFile({ file, maxSize: 10_000, keep: 2 });
    for (let i = 0; i < 50; i++) log.write(line(i));
    log.flushSync();
    // The first line may still be in flight asynchronously; everything after it is on disk now.
    const ids = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { i: number }).i);
    for (let i = 1; i < 50; i++) expect(ids).toContain(i);
  });

  it('drops lines past the pending cap and says how many', async () => {
    const dir = home();
    const file = join(dir, 'daemon.log');
    const log = new RotatingFile({ file, maxSize: 1 << 20, keep: 2, maxPendingBytes: 1000 });
    for (let i = 0; i < 100; i++) log.write(line(i));
    await new Promise<void>((r) => log.flush(() => r()));
    log.write(line(100));
    await log.close();
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { i?: number; dropped?: number });
    const notice = lines.find((l) => l.dropped !== undefined);
    expect(notice?.dropped).toBe(100 - lines.filter((l) => l.i !== undefined && l.i < 100).length);
    expect(lines.at(-1)?.i).toBe(100);
  });
});
