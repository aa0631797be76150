import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { ProxyAgent, request, type Dispatcher } from 'undici';

export interface Fetched {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** What a client that checks no hash got: the bytes it received and how the body ended. */
export interface Counted {
  status: number;
  contentLength: number | null;
  /** Body bytes received before the body ended or failed. */
  received: number;
  sha256: string;
  /** Set when the body did not end cleanly (reset, premature close, timeout). */
  error?: string;
}

/**
 * GETs `url` and streams the body, counting and hashing bytes without
 * checking anything: a failed body resolves with what arrived, not a throw.
 * Without a dispatcher it is a plain request (index mode).
 */
export async function countingGet(url: string, dispatcher?: Dispatcher, headers: Record<string, string> = {}): Promise<Counted> {
  const hash = createHash('sha256');
  let received = 0;
  let status = 0;
  let contentLength: number | null = null;
  try {
    const res = await request(url, { ...(dispatcher ? { dispatcher } : {}), headers, headersTimeout: 30_000, bodyTimeout: 30_000 });
    status = res.statusCode;
    const len = res.headers['content-length'];
    contentLength = typeof len === 'string' ? Number(len) : null;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      received += chunk.length;
      hash.update(chunk);
    }
    return { status, contentLength, received, sha256: hash.digest('hex') };
  } catch (err) {
    return { status, contentLength, received, sha256: hash.digest('hex'), error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
  }
}

/** An HTTPS client that goes through the daemon like pip does (CONNECT, trusting PIP_CERT). */
export function proxyClient(proxyUrl: string, bundlePath: string) {
  const agent = new ProxyAgent({ uri: proxyUrl, requestTls: { ca: readFileSync(bundlePath, 'utf8') } });
  return {
    async get(url: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET'): Promise<Fetched> {
      const res = await request(url, { dispatcher: agent, headers, method, headersTimeout: 30_000, bodyTimeout: 30_000 });
      const body = Buffer.from(await res.body.arrayBuffer());
      return { status: res.statusCode, headers: res.headers, body };
    },
    /** The same GET through the proxy, counting what arrives and checking nothing (see countingGet). */
    getCounting: (url: string, headers: Record<string, string> = {}): Promise<Counted> => countingGet(url, agent, headers),
    close: () => agent.close(),
  };
}

/** Sends raw bytes to the proxy and returns what comes back before it closes (bounded). */
export function rawExchange(proxyUrl: string, payload: string | Buffer, timeoutMs = 5000): Promise<{ text: string; closed: boolean }> {
  const { hostname, port } = new URL(proxyUrl);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(port), hostname);
    let text = '';
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ text, closed: false });
    }, timeoutMs);
    sock.on('connect', () => sock.write(payload));
    sock.on('data', (d) => (text += d.toString('latin1')));
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closed: true });
    });
  });
}
