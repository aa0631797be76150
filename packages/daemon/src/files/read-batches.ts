import { finished, type Readable } from 'node:stream';

/** Where a body's batches go: the temp file (and the readers following it). */
export interface BatchSink {
  /** Takes a batch, the chunks as they came; false when reading should wait for `drained`. */
  write(chunks: Buffer[]): boolean;
  /** Resolves when the sink can take more; rejects when it failed. */
  drained(): Promise<void>;
  /** False once the sink failed: a pending timed batch is then not written (its error shows at the next write). */
  healthy(): boolean;
}

export interface BatchOptions {
  /** A batch is written once it holds this many bytes... */
  bytes: number;
  /** ...or this many ms after its first chunk arrived, so a slow body still reaches readers promptly. */
  ms: number;
  /** Called with the bytes received so far, before each chunk is taken; a throw stops the body with that error. */
  check?: (received: number) => void;
}

/**
 * Reads `body` to its end into `sink` in batches. Chunks (a TLS record each,
 * 16 KiB) are gathered, not joined: every write to the file and to a client's
 * socket is a system call, and one writev of many chunks costs far less than
 * many writes, while a copy into a new buffer per batch costs more than it
 * saves, in page faults and garbage. Events rather than `for await`: the
 * async iterator costs a promise and a tick per chunk. Rejects with the
 * body's error (a reset, a close before the end), the sink's, or `check`'s;
 * the body is destroyed on any failure of ours.
 */
export async function readBatches(body: Readable, sink: BatchSink, opts: BatchOptions): Promise<void> {
  let batch: Buffer[] = [];
  let batched = 0;
  let received = 0;
  let timer: NodeJS.Timeout | undefined;
  const flush = (): boolean => {
    clearTimeout(timer);
    timer = undefined;
    if (batched === 0) return true;
    const chunks = batch;
    batch = [];
    batched = 0;
    return sink.write(chunks);
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const stop = (err: unknown): void => {
        body.off('data', onData);
        body.destroy();
        reject(err);
      };
      const onData = (chunk: Buffer): void => {
        let more: boolean;
        try {
          received += chunk.length;
          opts.check?.(received);
          batch.push(chunk);
          batched += chunk.length;
          if (batched < opts.bytes) {
            timer ??= setTimeout(() => {
              if (sink.healthy()) flush();
            }, opts.ms);
            return;
          }
          more = flush();
        } catch (err) {
          stop(err);
          return;
        }
        if (more) return;
        // The sink is behind: no more reading until it drains.
        body.pause();
        sink.drained().then(() => body.resume(), stop);
      };
      body.on('data', onData);
      // The end, or an error or a close before it.
      finished(body, (err) => (err ? reject(err) : resolve()));
    });
    flush();
  } finally {
    clearTimeout(timer);
  }
}
