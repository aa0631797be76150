import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LogFollower } from './logs.js';

/** Rotates the way the daemon does: oldest generation first, then the file to `.1`, then a new file. */
function rotate(file: string, keep: number): void {
  rmSync(`${file}.${keep}`, { force: true });
  for (let k = keep - 1; k >= 1; k--) {
    try {
      renameSync(`${file}.${k}`, `${file}.${k + 1}`);
    } catch {
      // not there yet
    }
  }
  renameSync(file, `${file}.1`);
  writeFileSync(file, '');
}

function setup(): { file: string; seen: string[]; warnings: string[]; follower: LogFollower } {
  const file = join(mkdtempSync(join(tmpdir(), 'pc-follow-')), 'daemon.log');
  writeFileSync(file, 'a\n');
  const seen: string[] = [];
  const warnings: string[] = [];
  const follower = LogFollower.open(file, (lines) => seen.push(...lines), (note) => warnings.push(note));
  return { file, seen, warnings, follower };
}

describe('LogFollower', () => {
  it('hands on whole lines only, each once', () => {
    const { file, seen, follower } = setup();
    follower.poll();
    appendFileSync(file, 'b\nc');
    follower.poll();
    expect(seen).toEqual(['a', 'b']);
    appendFileSync(file, 'c\n');
    follower.poll();
    follower.poll();
    expect(seen).toEqual(['a', 'b', 'cc']);
    follower.close();
  });

  it('follows across several rotations between two polls, the tail of the old file included', () => {
    const { file, seen, warnings, follower } = setup();
    follower.poll();
    appendFileSync(file, 'b\n');
    rotate(file, 5);
    appendFileSync(file, 'c\nd\n');
    rotate(file, 5);
    appendFileSync(file, 'e\n');
    rotate(file, 5);
    appendFileSync(file, 'f\n');
    follower.poll();
    expect(seen).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    appendFileSync(file, 'g\n');
    follower.poll();
    expect(seen).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g']);
    expect(warnings).toEqual([]);
    follower.close();
  });

  it('waits while a rotation is between its renames', () => {
    const { file, seen, follower } = setup();
    follower.poll();
    appendFileSync(file, 'b\n');
    renameSync(file, `${file}.1`);
    follower.poll();
    expect(seen).toEqual(['a', 'b']);
    writeFileSync(file, 'c\n');
    follower.poll();
    expect(seen).toEqual(['a', 'b', 'c']);
    follower.close();
  });

  it('says so when the file it was reading was dropped before it caught up, and goes on from the oldest kept', () => {
    const { file, seen, warnings, follower } = setup();
    follower.poll();
    appendFileSync(file, 'b\n');
    for (const line of ['c', 'd', 'e', 'f']) {
      rotate(file, 2);
      appendFileSync(file, `${line}\n`);
    }
    for (let i = 0; i < 10; i++) follower.poll();
    // 'b' is still read (the file is held open), 'c' was dropped with its file.
    expect(seen).toEqual(['a', 'b', 'd', 'e', 'f']);
    expect(warnings).toHaveLength(1);
    follower.close();
  });
});
