import type { ServerResponse } from 'node:http';

/** A short text answer; a response already under way can only be cut. */
export function sendText(res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = Buffer.from(`${text}\n`);
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': body.length, ...extra });
  res.end(body);
}

/**
 * Resolves once `res` can take more (drain) or is gone (close): a client gone
 * while its socket was full never drains, so closing ends the wait too.
 */
export function writable(res: ServerResponse): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * Read buffers of one response, each reused once the socket has taken its
 * bytes (the write's callback). Streaming a large file then allocates two
 * buffers, not one per read: with many clients, per-read buffers are garbage
 * that grows the process by tens of MB before the collector frees it. A
 * buffer the socket still holds is never handed out again.
 */
export class ReadBuffers {
  private readonly free: Buffer[] = [];

  constructor(private readonly size: number) {}

  /** A buffer of `size` bytes that no pending write holds. */
  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafe(this.size);
  }

  /** Writes the first `n` bytes of `buf` (from take()); it is reused once written. Returns write()'s answer. */
  write(res: ServerResponse, buf: Buffer, n: number): boolean {
    return res.write(buf.subarray(0, n), (err) => {
      if (!err) this.free.push(buf);
    });
  }
}
