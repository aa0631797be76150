import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, write, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { LogRotation } from '@pipcache/shared';

/** Lines waiting for the disk past this many bytes are dropped (and counted) rather than held in memory. */
const DEFAULT_MAX_PENDING_BYTES = 16 * 1024 * 1024;
/** One write to the disk carries at most this much, so a backlog does not become one huge string. */
const MAX_BATCH_BYTES = 1024 * 1024;

export interface RotatingFileOptions extends LogRotation {
  file: string;
  /** A write or rotation that failed; the lines it carried are lost, logging goes on. */
  onError?: (err: Error) => void;
  maxPendingBytes?: number;
}

/**
 * The daemon's log file, rotated by size while the daemon runs: a line that
 * would take the file past `maxSize` first moves `daemon.log` to
 * `daemon.log.1` (and `.k` to `.k+1`, dropping what goes past `keep`), then
 * goes to a new `daemon.log`.
 *
 * pino hands it one complete line per `write`. Lines are queued and written
 * by one asynchronous write at a time (everything queued meanwhile goes in
 * the next), so logging never waits for the disk and a line is never split
 * across files. Rotation happens between writes, when no write is in
 * flight; its renames and reopen are synchronous: they are a few metadata
 * calls once per `maxSize` bytes, and `flushSync` (the fatal-error path,
 * which cannot wait) needs to be able to rotate too.
 */
export class RotatingFile {
  readonly file: string;
  private maxSize: number;
  private keep: number;
  private readonly maxPendingBytes: number;
  private readonly onError: (err: Error) => void;
  private fd: number;
  /** Bytes in the current file. */
  private size: number;
  private readonly lines: string[] = [];
  private readonly lengths: number[] = [];
  private pendingBytes = 0;
  private dropped = 0;
  private writing = false;
  private closed = false;
  private readonly drained: Array<(err?: Error) => void> = [];

  constructor(opts: RotatingFileOptions) {
    this.file = opts.file;
    this.maxSize = opts.maxSize;
    this.keep = opts.keep;
    this.maxPendingBytes = opts.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES;
    this.onError = opts.onError ?? (() => undefined);
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    this.fd = openSync(this.file, 'a', 0o600);
    // A log left over past the cap by an earlier run is rotated by the first line.
    this.size = fstatSync(this.fd).size;
  }

  /** Takes new limits (a config reload): a smaller `keep` drops the extra generations now. */
  configure(rotation: LogRotation): void {
    this.maxSize = rotation.maxSize;
    if (rotation.keep < this.keep) this.prune(rotation.keep);
    this.keep = rotation.keep;
  }

  /** Queues one line. Always true: a stalled disk costs dropped lines, not memory or back-pressure. */
  write(line: string): boolean {
    if (this.closed) return true;
    const length = Buffer.byteLength(line);
    if (this.pendingBytes + length > this.maxPendingBytes) {
      this.dropped++;
      return true;
    }
    if (this.dropped > 0) this.enqueue(this.droppedNotice());
    this.enqueue(line);
    if (!this.writing) this.writeNext();
    return true;
  }

  /** Calls back once everything queued so far is on disk. */
  flush(cb: (err?: Error) => void = () => undefined): void {
    if (!this.writing && this.lines.length === 0) process.nextTick(cb);
    else this.drained.push(cb);
  }

  /**
   * Writes what is queued before returning, for the moment the process is
   * about to exit. A write already in flight may land after these lines.
   */
  flushSync(): void {
    if (this.closed) return;
    while (this.lines.length > 0) {
      const { data, bytes } = this.takeBatch();
      try {
        writeSync(this.fd, data);
        this.size += bytes;
      } catch (err) {
        this.onError(err as Error);
      }
    }
  }

  /** Flushes, then closes the file; later lines are ignored. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.flush(() => {
        if (!this.closed && this.fd >= 0) closeSync(this.fd);
        this.closed = true;
        resolve();
      });
    });
  }

  private enqueue(line: string): void {
    const length = Buffer.byteLength(line);
    this.lines.push(line);
    this.lengths.push(length);
    this.pendingBytes += length;
  }

  private droppedNotice(): string {
    const notice = `${JSON.stringify({ level: 40, time: Date.now(), pid: process.pid, msg: 'log lines dropped: the disk did not keep up', dropped: this.dropped })}\n`;
    this.dropped = 0;
    return notice;
  }

  /** The next lines for the current file: as many as fit under `maxSize`, rotating first when not even one does. */
  private takeBatch(): { data: string; bytes: number } {
    if (this.fd < 0 || (this.size > 0 && this.size + (this.lengths[0] ?? 0) > this.maxSize)) this.rotate();
    let count = 0;
    let bytes = 0;
    while (count < this.lines.length) {
      const next = this.lengths[count] ?? 0;
      // A line longer than maxSize still goes whole, alone in its file.
      if (count > 0 && (this.size + bytes + next > this.maxSize || bytes + next > MAX_BATCH_BYTES)) break;
      bytes += next;
      count++;
    }
    const data = this.lines.splice(0, count).join('');
    this.lengths.splice(0, count);
    this.pendingBytes -= bytes;
    return { data, bytes };
  }

  private writeNext(): void {
    if (this.closed || this.lines.length === 0) {
      this.writing = false;
      for (const cb of this.drained.splice(0)) cb();
      return;
    }
    this.writing = true;
    const { data, bytes } = this.takeBatch();
    this.writeAll(Buffer.from(data), 0, (err) => {
      if (err) this.onError(err);
      else this.size += bytes;
      this.writeNext();
    });
  }

  /** fs.write may take part of a buffer; the rest follows before anything else. */
  private writeAll(buf: Buffer, offset: number, done: (err: Error | null) => void): void {
    if (this.fd < 0) {
      process.nextTick(done, new Error(`${this.file} is not open`));
      return;
    }
    write(this.fd, buf, offset, buf.length - offset, null, (err, written) => {
      if (err) done(err);
      else if (offset + written < buf.length) this.writeAll(buf, offset + written, done);
      else done(null);
    });
  }

  private generation(k: number): string {
    return `${this.file}.${k}`;
  }

  /**
   * `.k` -> `.k+1` from the oldest down, then the file -> `.1`, so a reader
   * following by name sees each file under one name at a time.
   */
  private rotate(): void {
    try {
      if (this.fd >= 0) closeSync(this.fd);
      this.fd = -1;
      this.prune(this.keep - 1);
      for (let k = this.keep - 1; k >= 1; k--) this.renameIfThere(this.generation(k), this.generation(k + 1));
      renameSync(this.file, this.generation(1));
    } catch (err) {
      this.onError(err as Error);
    }
    // Whatever failed above, logging goes on: into a new file, or appended to the old one.
    try {
      this.fd = openSync(this.file, 'a', 0o600);
      this.size = fstatSync(this.fd).size;
    } catch (err) {
      // No file to write to: the lines fail (and are reported) until a later batch manages to open one.
      this.size = 0;
      this.onError(err as Error);
    }
  }

  /** Removes the generations numbered above `limit`. */
  private prune(limit: number): void {
    const prefix = `${basename(this.file)}.`;
    for (const name of readdirSync(dirname(this.file))) {
      if (!name.startsWith(prefix)) continue;
      const suffix = name.slice(prefix.length);
      if (/^\d+$/.test(suffix) && Number(suffix) > limit) rmSync(join(dirname(this.file), name), { force: true });
    }
  }

  private renameIfThere(from: string, to: string): void {
    try {
      renameSync(from, to);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}
