/**
 * Baseline file server, run as its own process by the throughput benchmark:
 * serves ONE file for every GET, streamed with 4 MiB reads, over https (cert/key
 * given) or plain http. Prints `{"port":N}` once listening on 127.0.0.1; exits
 * on SIGTERM/SIGINT or when its stdin closes (the parent went away).
 *
 *   file-server.ts <http|https> <file> [certPemPath keyPemPath]
 */
import { createReadStream, readFileSync, statSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

const READ_CHUNK = 4 * 1024 * 1024;
const [mode, file, certPath, keyPath] = process.argv.slice(2);
if ((mode !== 'http' && mode !== 'https') || !file) {
  process.stderr.write('usage: file-server.ts <http|https> <file> [cert key]\n');
  process.exit(2);
}
const size = statSync(file).size;

const handler = (req: IncomingMessage, res: ServerResponse): void => {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  // A small file is one read of its own size, not of a 4 MiB buffer.
  const stream = createReadStream(file, { highWaterMark: Math.min(READ_CHUNK, Math.max(1, size)) });
  stream.on('error', (err) => res.destroy(err));
  res.on('close', () => stream.destroy());
  stream.pipe(res);
};

const server =
  mode === 'https'
    ? https.createServer({ cert: readFileSync(certPath!), key: readFileSync(keyPath!) }, handler)
    : http.createServer(handler);
const sockets = new Set<Socket>();
server.on('connection', (s: Socket) => {
  sockets.add(s);
  s.on('close', () => sockets.delete(s));
});

const shutdown = (): void => {
  server.close(() => process.exit(0));
  for (const s of sockets) s.destroy();
  setTimeout(() => process.exit(0), 2_000).unref();
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
process.stdin.on('end', shutdown);
process.stdin.resume();

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
