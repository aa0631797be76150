import { closeSync, existsSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { PipcacheError } from '@pipcache/shared';
import { paths } from '../context.js';

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** One pino line, readable. Lines that are not JSON are printed as they are. */
export function formatLine(line: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = typeof rec.time === 'number' ? new Date(rec.time).toISOString() : '';
  const level = LEVELS[rec.level as number] ?? String(rec.level);
  if (rec.msg === 'request') {
    const parts = [rec.method, rec.host, rec.path ?? '', rec.cache, rec.status ?? '', `${rec.bytes ?? 0}B`, rec.ms !== undefined ? `${rec.ms}ms` : ''];
    return `${time} ${level.padEnd(5)} ${parts.filter((p) => p !== '').join(' ')}${rec.reason ? ` (${rec.reason})` : ''}`;
  }
  const skip = new Set(['time', 'level', 'msg', 'pid', 'hostname', 'mod']);
  const extra = Object.entries(rec)
    .filter(([k]) => !skip.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${time} ${level.padEnd(5)} ${rec.mod ? `[${rec.mod}] ` : ''}${rec.msg ?? ''}${extra ? ` ${extra}` : ''}`;
}

/** Bytes read from the log at a time. */
const READ_CHUNK_BYTES = 256 * 1024;
/** Polls in a row the file being read may go unfound among the generations before it counts as dropped. */
const LOST_AFTER_POLLS = 8;

function inodeAt(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Reads the log as it grows, across rotations (`daemon.log` -> `.1` -> `.2`
 * ...). It holds the file it reads open, so a rotation does not take it
 * away: it reads that file to its end, then the generation written after
 * it, and so on up to the current `daemon.log`. Only whole lines are handed
 * on, each once.
 */
export class LogFollower {
  private fd: number;
  private ino: number;
  private pos = 0;
  private partial = Buffer.alloc(0);
  private unfoundPolls = 0;

  private constructor(
    private readonly file: string,
    private readonly emit: (lines: string[]) => void,
    private readonly warn: (note: string) => void,
    fd: number,
  ) {
    this.fd = fd;
    this.ino = fstatSync(fd).ino;
  }

  static open(file: string, emit: (lines: string[]) => void, warn: (note: string) => void): LogFollower {
    return new LogFollower(file, emit, warn, openSync(file, 'r'));
  }

  /** Hands on every whole line written since the last poll. */
  poll(): void {
    this.readToEnd();
    for (;;) {
      const current = inodeAt(this.file);
      // Absent: a rotation is between its renames; the next poll sees it done.
      if (current === undefined || current === this.ino) break;
      // The writer has finished with a rotated file: what it holds now is all it will hold.
      this.readToEnd();
      if (!this.moveToNext()) break;
      this.readToEnd();
    }
    // Cut short by hand (truncated in place): start again from its beginning.
    if (fstatSync(this.fd).size < this.pos) {
      this.pos = 0;
      this.partial = Buffer.alloc(0);
    }
  }

  /** Hands on a last line that has no newline (the file is complete). */
  finish(): void {
    if (this.partial.length > 0) this.emit([this.partial.toString('utf8')]);
    this.partial = Buffer.alloc(0);
  }

  close(): void {
    closeSync(this.fd);
  }

  private readToEnd(): void {
    const buf = Buffer.allocUnsafe(READ_CHUNK_BYTES);
    for (;;) {
      const n = readSync(this.fd, buf, 0, buf.length, this.pos);
      if (n === 0) return;
      this.pos += n;
      const data = this.partial.length > 0 ? Buffer.concat([this.partial, buf.subarray(0, n)]) : buf.subarray(0, n);
      const end = data.lastIndexOf(0x0a);
      this.partial = Buffer.from(data.subarray(end + 1));
      if (end >= 0) this.emit(data.subarray(0, end).toString('utf8').split('\n').filter(Boolean));
    }
  }

  /**
   * Switches to the file written after the one being read: the generation
   * one newer than where that file now sits. False when that cannot be told
   * yet (a rotation is between its renames).
   */
  private moveToNext(): boolean {
    let at = 0;
    let oldest = 0;
    for (let k = 1; ; k++) {
      const ino = inodeAt(`${this.file}.${k}`);
      if (ino === undefined) break;
      oldest = k;
      if (ino === this.ino) {
        at = k;
        break;
      }
    }
    let next: string;
    if (at > 0) {
      next = at === 1 ? this.file : `${this.file}.${at - 1}`;
    } else if (++this.unfoundPolls < LOST_AFTER_POLLS) {
      return false;
    } else {
      // The file being read was dropped past `keep` before it was finished with; so may newer ones have been.
      this.warn('the log rotated faster than it was read; some lines were skipped');
      next = oldest > 0 ? `${this.file}.${oldest}` : this.file;
    }
    let fd: number;
    try {
      fd = openSync(next, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    // Renames go oldest first, so if the file being read has not moved on, `next` was opened before it moved.
    if (at > 0 && inodeAt(`${this.file}.${at}`) !== this.ino) {
      closeSync(fd);
      return false;
    }
    this.finish();
    closeSync(this.fd);
    this.fd = fd;
    this.ino = fstatSync(fd).ino;
    this.pos = 0;
    this.unfoundPolls = 0;
    return true;
  }
}

function print(lines: string[]): void {
  if (lines.length > 0) process.stdout.write(`${lines.map(formatLine).join('\n')}\n`);
}

/** How often `-f` looks for new lines (and for a rotation). */
const FOLLOW_POLL_MS = 250;

export async function logs(args: { follow?: boolean }): Promise<void> {
  const file = paths().logFile;
  if (!existsSync(file)) throw new PipcacheError('E_NOT_FOUND', `no log file at ${file} yet`);
  const follower = LogFollower.open(file, print, (note) => process.stderr.write(`pipcache logs: ${note}\n`));
  try {
    follower.poll();
    if (!args.follow) {
      follower.finish();
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        try {
          follower.poll();
        } catch (err) {
          clearInterval(timer);
          reject(err as Error);
        }
      }, FOLLOW_POLL_MS);
      process.once('SIGINT', () => {
        clearInterval(timer);
        resolve();
      });
    });
  } finally {
    follower.close();
  }
}
