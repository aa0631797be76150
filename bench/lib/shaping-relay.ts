/**
 * A TCP relay on 127.0.0.1 that puts a slow link in front of a local server,
 * so every client of the benchmark sees the same upstream: a round-trip
 * latency and a download rate shared by all connections (one link, as an
 * office line to PyPI would be). `tc` is not used: loopback is shared with
 * other processes.
 *
 * - Connect: nothing the client sends reaches the server before one round
 *   trip has passed since it connected (the TCP handshake).
 * - Latency: every chunk, both ways, is delivered half a round trip after it
 *   arrived (order kept), so each request/response exchange costs one RTT.
 * - Rate: downstream chunks (server to client) leave through one token bucket
 *   (`bytesPerSecond`, a 128 KiB burst), in the order they become due.
 * - Backpressure: a lane stops reading when it holds 1 MiB not yet delivered.
 *
 * Shaping can be switched off and on between measurements (`setShaping`);
 * with it off, bytes pass straight through.
 */
import net, { type AddressInfo, type Socket } from 'node:net';

export interface Shaping {
  /** Round-trip time added to each exchange, ms. */
  rttMs: number;
  /** Downstream rate shared by all connections, bytes per second. */
  bytesPerSecond: number;
}

export interface ShapingRelay {
  port: number;
  /** Connections accepted so far. */
  connections(): number;
  setShaping(s: Shaping | null): void;
  close(): Promise<void>;
}

const PIECE = 16 * 1024;
const BURST = 128 * 1024;
const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;
const CLOSE_TIMEOUT_MS = 5_000;

/** One shared downstream link: reserves the time at which `n` bytes have gone through. */
class TokenBucket {
  private free = 0;
  constructor(private readonly rate: number) {}
  /** ms from now until `n` bytes may be delivered. */
  reserve(n: number, now: number): number {
    const start = Math.max(this.free, now - (BURST / this.rate) * 1000);
    this.free = start + (n / this.rate) * 1000;
    return Math.max(0, this.free - now);
  }
}

interface Queued {
  chunk: Buffer;
  due: number;
  reserved: boolean;
}

/** One direction of one connection: delays (and on the downstream lane rate-limits) what `src` sends to `dst`. */
function lane(src: Socket, dst: Socket, opts: { delayMs: () => number; bucket: () => TokenBucket | null; notBefore: number }): void {
  const queue: Queued[] = [];
  let held = 0;
  let timer: NodeJS.Timeout | undefined;
  let ended = false;
  let waitingDrain = false;

  const pump = (): void => {
    timer = undefined;
    while (!waitingDrain) {
      const head = queue[0];
      if (!head) {
        if (ended) dst.end();
        return;
      }
      const now = performance.now();
      if (head.due > now) {
        timer = setTimeout(pump, head.due - now);
        return;
      }
      const bucket = head.reserved ? null : opts.bucket();
      head.reserved = true;
      if (bucket) {
        // Link time is reserved once; the chunk is delivered when it has gone through.
        const wait = bucket.reserve(head.chunk.length, now);
        if (wait >= 1) {
          head.due = now + wait;
          timer = setTimeout(pump, wait);
          return;
        }
      }
      queue.shift();
      held -= head.chunk.length;
      if (held < LOW_WATER && src.isPaused()) src.resume();
      if (!dst.write(head.chunk)) {
        waitingDrain = true;
        dst.once('drain', () => {
          waitingDrain = false;
          if (!timer) pump();
        });
      }
    }
  };

  src.on('data', (data: Buffer) => {
    const delay = opts.delayMs();
    const due = Math.max(performance.now() + delay, opts.notBefore);
    for (let off = 0; off < data.length; off += PIECE) {
      const chunk = data.subarray(off, off + PIECE);
      queue.push({ chunk, due, reserved: false });
      held += chunk.length;
    }
    if (held > HIGH_WATER) src.pause();
    if (!timer && !waitingDrain) pump();
  });
  src.on('end', () => {
    ended = true;
    if (!timer && !waitingDrain) pump();
  });
  src.on('close', () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
  });
}

export async function startShapingRelay(targetPort: number, initial: Shaping | null): Promise<ShapingRelay> {
  let shaping = initial;
  let bucket = shaping ? new TokenBucket(shaping.bytesPerSecond) : null;
  let accepted = 0;
  const sockets = new Set<Socket>();
  const track = (s: Socket): void => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  };

  const server = net.createServer({ pauseOnConnect: true }, (client) => {
    accepted += 1;
    track(client);
    const rtt = shaping?.rttMs ?? 0;
    const connectAt = performance.now() + rtt;
    const upstream = new net.Socket();
    track(upstream);
    const fail = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', fail);
    upstream.on('error', fail);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.setNoDelay(true);
    const half = (): number => (shaping ? shaping.rttMs / 2 : 0);
    lane(client, upstream, { delayMs: half, bucket: () => null, notBefore: connectAt });
    lane(upstream, client, { delayMs: half, bucket: () => bucket, notBefore: 0 });
    upstream.connect(targetPort, '127.0.0.1', () => upstream.setNoDelay(true));
    client.resume();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });

  return {
    port: (server.address() as AddressInfo).port,
    connections: () => accepted,
    setShaping(s) {
      shaping = s;
      bucket = s ? new TokenBucket(s.bytesPerSecond) : null;
    },
    close: () =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, CLOSE_TIMEOUT_MS);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        for (const s of sockets) s.destroy();
      }),
  };
}
