import { readFileSync } from 'node:fs';
import net from 'node:net';
import { ProxyAgent, request } from 'undici';

export interface Fetched {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
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
