import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { ReadBuffers, writable } from './send.js';

const SIZE = 256 * 1024;
const ROUNDS = 64;

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** A real server whose handler gets the response; resolves with the URL. */
async function serve(handler: (res: ServerResponse) => Promise<void>): Promise<string> {
  server = createServer((_req, res) => void handler(res));
  await new Promise<void>((resolve) => (server as Server).listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

/** Fetches the body, pausing now and then so the server's socket fills and writes stay pending. */
function slowFetch(url: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    request(url, (res: IncomingMessage) => {
      const parts: Buffer[] = [];
      let n = 0;
      res.on('data', (chunk: Buffer) => {
        parts.push(chunk);
        if (++n % 16 === 0) {
          res.pause();
          setTimeout(() => res.resume(), 2);
        }
      });
      res.on('end', () => resolve(Buffer.concat(parts)));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

describe('ReadBuffers', () => {
  it('never hands out a buffer a pending write holds, and reuses it once written', async () => {
    const expected = createHash('sha256');
    let made = 0;
    const seen = new Set<Buffer>();
    const url = await serve(async (res) => {
      const buffers = new ReadBuffers(SIZE);
      res.writeHead(200, { 'content-length': SIZE * ROUNDS });
      for (let i = 0; i < ROUNDS; i += 2) {
        // Two writes before waiting: the second take() comes while the first write is pending.
        const first = buffers.take();
        first.fill(i % 251);
        expected.update(first);
        const more1 = buffers.write(res, first, SIZE);
        const second = buffers.take();
        expect(second).not.toBe(first);
        second.fill((i + 1) % 251);
        expected.update(second);
        const more2 = buffers.write(res, second, SIZE);
        for (const b of [first, second]) {
          if (!seen.has(b)) made++;
          seen.add(b);
        }
        if (!more1 || !more2) await writable(res);
      }
      res.end();
    });
    const body = await slowFetch(url);
    expect(body.length).toBe(SIZE * ROUNDS);
    expect(createHash('sha256').update(body).digest('hex')).toBe(expected.digest('hex'));
    // Reused once written (bytes unchanged above), not one per write.
    expect(made).toBeLessThanOrEqual(4);
  });

  it('writes only the bytes asked for', async () => {
    const url = await serve(async (res) => {
      const buffers = new ReadBuffers(16);
      const buf = buffers.take();
      buf.fill(0x61);
      res.writeHead(200, { 'content-length': 5 });
      buffers.write(res, buf, 5);
      res.end();
    });
    expect((await slowFetch(url)).toString()).toBe('aaaaa');
  });
});
