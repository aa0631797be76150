import { createReadStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseRange } from './range.js';

export const READ_CHUNK = 4 * 1024 * 1024;
/**
 * Read size (and read-ahead) of a hit: with pipe()'s backpressure each client
 * holds about two of these plus what its socket buffers, so it bounds the
 * memory of many concurrent readers.
 */
export const HIT_READ_CHUNK = 256 * 1024;
const IMMUTABLE = 'max-age=365000000, immutable, public';

export function contentTypeFor(filename: string): string {
  return filename.endsWith('.metadata') ? 'text/plain; charset=utf-8' : 'application/octet-stream';
}

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
 * Serves a stored, immutable file with validators and single-range support
 * (206 / 416, If-Range on the ETag). Returns the body bytes sent.
 */
export function sendFile(
  req: IncomingMessage,
  res: ServerResponse,
  file: { path: string; size: number; sha256: string; filename: string; data?: Buffer | null },
): Promise<number> {
  const etag = `"${file.sha256}"`;
  const headers: Record<string, string | number> = {
    'content-type': contentTypeFor(file.filename),
    etag,
    'accept-ranges': 'bytes',
    'cache-control': IMMUTABLE,
  };
  const inm = req.headers['if-none-match'];
  if (inm && (inm === '*' || inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag))) {
    res.writeHead(304, headers);
    res.end();
    return Promise.resolve(0);
  }
  let start = 0;
  let end = file.size - 1;
  let status = 200;
  const ifRange = req.headers['if-range'];
  const range = ifRange === undefined || ifRange === etag ? parseRange(req.headers.range, file.size) : null;
  if (range === 'unsatisfiable') {
    res.writeHead(416, { ...headers, 'content-range': `bytes */${file.size}`, 'content-length': 0 });
    res.end();
    return Promise.resolve(0);
  }
  if (range) {
    ({ start, end } = range);
    status = 206;
    headers['content-range'] = `bytes ${start}-${end}/${file.size}`;
  }
  const length = file.size === 0 ? 0 : end - start + 1;
  headers['content-length'] = length;
  res.writeHead(status, headers);
  if (req.method === 'HEAD' || length === 0) {
    res.end();
    return Promise.resolve(0);
  }
  if (file.data) {
    res.end(start === 0 && end === file.size - 1 ? file.data : file.data.subarray(start, end + 1));
    return Promise.resolve(length);
  }
  return new Promise((resolve, reject) => {
    const stream = createReadStream(file.path, { start, end, highWaterMark: HIT_READ_CHUNK });
    stream.on('error', (err) => {
      res.destroy(err);
      reject(err);
    });
    res.on('close', () => {
      stream.destroy();
      resolve(res.writableFinished ? length : Math.min(length, stream.bytesRead));
    });
    stream.pipe(res);
  });
}
