/**
 * The most recent bytes of a download, kept in memory (at most `budget`
 * bytes, oldest dropped first), so that clients keeping up with the download
 * get its chunks as they arrive instead of reading them back from the temp
 * file. A client that falls behind the window reads the file until it
 * catches up. The chunks are the ones the download also hands to the temp
 * file's writer: keeping them costs no copy.
 */
export class RecentBytes {
  private chunks: Buffer[] = [];
  /** Offset (in the whole body) of chunks[0]. */
  private start = 0;
  /** Offset just past the last chunk. */
  private end = 0;

  constructor(private readonly budget: number) {}

  /** Offset just past the newest byte received. */
  get received(): number {
    return this.end;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.end += chunk.length;
    let held = this.end - this.start;
    // Keep at least the newest chunk, whatever its size.
    while (held > this.budget && this.chunks.length > 1) {
      const dropped = this.chunks.shift() as Buffer;
      this.start += dropped.length;
      held -= dropped.length;
    }
  }

  /** Drops everything (a body abandoned for another source). */
  clear(): void {
    this.chunks = [];
    this.start = 0;
    this.end = 0;
  }

  /**
   * The bytes from offset `from` up to (not including) `to`, at most
   * `max` of them, as views of the kept chunks; null when `from` is no
   * longer (or not yet) in memory.
   */
  slice(from: number, to: number, max: number): Buffer[] | null {
    if (from < this.start || from >= this.end || from >= to) return null;
    const stop = Math.min(to, this.end, from + max);
    // Followers that keep up ask for the newest chunks: search from the end.
    let i = this.chunks.length - 1;
    let offset = this.end - (this.chunks[i] as Buffer).length;
    while (offset > from) offset -= (this.chunks[--i] as Buffer).length;
    const out: Buffer[] = [];
    for (; i < this.chunks.length && offset < stop; i++) {
      const chunk = this.chunks[i] as Buffer;
      out.push(chunk.subarray(Math.max(0, from - offset), Math.min(chunk.length, stop - offset)));
      offset += chunk.length;
    }
    return out;
  }
}
