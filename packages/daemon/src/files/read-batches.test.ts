import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readBatches, type BatchSink } from './read-batches.js';

const KIB = 1024;

/** A sink that records batches; `full` makes every write ask for a drain, resolved on the next tick. */
function recorder(full = false): BatchSink & { batches: Buffer[][]; drains: number } {
  const r = {
    batches: [] as Buffer[][],
    drains: 0,
    write(chunks: Buffer[]): boolean {
      r.batches.push(chunks);
      return !full;
    },
    drained(): Promise<void> {
      r.drains++;
      return new Promise((resolve) => setImmediate(resolve));
    },
    healthy: () => true,
  };
  return r;
}

const chunks = (n: number, size: number): Buffer[] => Array.from({ length: n }, (_, i) => Buffer.alloc(size, i % 256));
const joined = (batches: Buffer[][]): Buffer => Buffer.concat(batches.flat());

describe('readBatches', () => {
  it('gathers chunks into batches of the given size, unjoined and in order, and writes the rest at the end', async () => {
    const body = chunks(40, 16 * KIB);
    const sink = recorder();
    await readBatches(Readable.from(body), sink, { bytes: 128 * KIB, ms: 1000 });
    expect(sink.batches.map((b) => b.length)).toEqual([8, 8, 8, 8, 8]);
    // The very chunks that came: no copy.
    expect(sink.batches[0]?.[0]).toBe(body[0]);
    expect(joined(sink.batches).equals(Buffer.concat(body))).toBe(true);
  });

  it('writes a partial batch once the time is up, so a slow body still reaches readers', async () => {
    const body = new PassThrough();
    const sink = recorder();
    const done = readBatches(body, sink, { bytes: 1024 * KIB, ms: 5 });
    body.write(Buffer.alloc(100, 1));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(sink.batches.length).toBe(1);
    body.end(Buffer.alloc(10, 2));
    await done;
    expect(sink.batches.map((b) => b.length)).toEqual([1, 1]);
  });

  it('waits for the sink to drain before reading on, and loses nothing', async () => {
    const body = chunks(64, 4 * KIB);
    const sink = recorder(true);
    await readBatches(Readable.from(body), sink, { bytes: 16 * KIB, ms: 1000 });
    expect(sink.drains).toBe(16);
    expect(joined(sink.batches).equals(Buffer.concat(body))).toBe(true);
  });

  it("stops the body with check's error", async () => {
    const body = new PassThrough();
    const sink = recorder();
    const done = readBatches(body, sink, {
      bytes: 64 * KIB,
      ms: 1000,
      check: (received) => {
        if (received > 20) throw new Error('too big');
      },
    });
    body.write(Buffer.alloc(15));
    body.write(Buffer.alloc(15));
    await expect(done).rejects.toThrow('too big');
    expect(body.destroyed).toBe(true);
  });

  it("rejects with the body's error or a close before its end", async () => {
    const failing = new PassThrough();
    const a = readBatches(failing, recorder(), { bytes: 64 * KIB, ms: 1000 });
    failing.write(Buffer.alloc(10));
    failing.destroy(new Error('connection reset'));
    await expect(a).rejects.toThrow('connection reset');

    const cut = new PassThrough();
    const b = readBatches(cut, recorder(), { bytes: 64 * KIB, ms: 1000 });
    cut.write(Buffer.alloc(10));
    cut.destroy();
    await expect(b).rejects.toThrow(/premature close/i);
  });

  it("rejects with the sink's failure while draining, and destroys the body", async () => {
    const body = new PassThrough();
    const sink: BatchSink = { write: () => false, drained: () => Promise.reject(new Error('disk full')), healthy: () => false };
    const done = readBatches(body, sink, { bytes: 8, ms: 1000 });
    body.write(Buffer.alloc(16));
    await expect(done).rejects.toThrow('disk full');
    expect(body.destroyed).toBe(true);
  });
});
