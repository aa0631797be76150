import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { PipcacheError } from '@pipcache/shared';
import type { Download } from '../files/download.js';
import type { FileService, StoredBlob } from '../files/file-service.js';
import type { UrlRecord } from '../store/catalog.js';
import { writeHead, type RequestContext } from './context.js';
import { answerError } from './answer-error.js';
import { parseRange } from './range.js';
import { writable } from './send.js';

/**
 * Most bytes one write to a follower's socket carries (a download hands over
 * 1 MiB batches): what each of many clients of one download holds at most.
 */
const FOLLOW_CHUNK = 512 * 1024;
/**
 * Read size (and read-ahead) of a hit: with pipe()'s backpressure each client
 * holds about two of these plus what its socket buffers, so it bounds the
 * memory of many concurrent readers.
 */
export const HIT_READ_CHUNK = 256 * 1024;
/** Archives and their metadata never change under one URL (the digest is their ETag). */
const IMMUTABLE = 'max-age=365000000, immutable, public';

export function contentTypeFor(filename: string): string {
  return filename.endsWith('.metadata') ? 'text/plain; charset=utf-8' : 'application/octet-stream';
}

/** Headers of every answer with a file's bytes, hit or miss. */
function fileHeaders(filename: string, sha256: string): Record<string, string | number> {
  return { 'content-type': contentTypeFor(filename), etag: `"${sha256}"`, 'accept-ranges': 'bytes', 'cache-control': IMMUTABLE };
}

/**
 * Answers a request for a file the index knows, as the file service decides.
 * Returns false when the caller should pass the request through uncached.
 */
export async function serveFile(ctx: RequestContext, files: FileService, lookup: UrlRecord): Promise<boolean> {
  const decision = await files.decide(lookup, { method: ctx.req.method ?? 'GET', range: ctx.req.headers.range !== undefined });
  switch (decision.kind) {
    case 'pass':
      return false;
    case 'refused':
      answerError(ctx, decision.error, { kind: 'file' });
      return true;
    case 'hit':
      ctx.outcome = 'hit';
      try {
        ctx.fromCache = await sendFile(ctx, decision.blob);
      } finally {
        decision.release();
      }
      files.recordHit(lookup);
      return true;
    case 'miss':
      ctx.outcome = 'miss';
      try {
        await streamMiss(ctx, decision.download, decision);
      } finally {
        decision.release();
      }
      return true;
  }
}

/**
 * Serves a stored, immutable file with validators and single-range support
 * (206 / 416, If-Range on the ETag). Returns the body bytes sent.
 */
export function sendFile(ctx: RequestContext, file: StoredBlob): Promise<number> {
  const { req, res } = ctx;
  const etag = `"${file.sha256}"`;
  const headers = fileHeaders(file.filename, file.sha256);
  const inm = req.headers['if-none-match'];
  if (inm && (inm === '*' || inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag))) {
    writeHead(ctx, 304, headers);
    res.end();
    return Promise.resolve(0);
  }
  let start = 0;
  let end = file.size - 1;
  let status = 200;
  const ifRange = req.headers['if-range'];
  const range = ifRange === undefined || ifRange === etag ? parseRange(req.headers.range, file.size) : null;
  if (range === 'unsatisfiable') {
    writeHead(ctx, 416, { ...headers, 'content-range': `bytes */${file.size}`, 'content-length': 0 });
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
  writeHead(ctx, status, headers);
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

/** A miss: the download's failure before its first byte is answered as an error; otherwise its bytes are followed. */
async function streamMiss(ctx: RequestContext, dl: Download, miss: { sha256: string; filename: string; blobPath: string }): Promise<void> {
  await dl.whenStarted();
  if (dl.state === 'failed') {
    // Upstream's own status (a 404) is relayed; otherwise the error's.
    answerError(ctx, dl.error ?? new PipcacheError('E_UPSTREAM', 'download failed'), { status: dl.upstreamStatus });
    return;
  }
  const headers = fileHeaders(miss.filename, miss.sha256);
  if (dl.size !== null) headers['content-length'] = dl.size;
  writeHead(ctx, 200, headers);
  ctx.fromUpstream = await follow(dl, ctx, miss.blobPath);
}

/**
 * Streams a running download to one client: from memory while the client
 * keeps up, from the temp file (or the blob, once renamed) when it falls
 * behind; never the last byte before the download is verified.
 */
async function follow(dl: Download, ctx: RequestContext, blobPath: string): Promise<number> {
  const { res } = ctx;
  let fh: FileHandle | undefined;
  let pos = 0;
  let closed = false;
  res.on('close', () => {
    closed = true;
    dl.emit('progress');
  });
  try {
    for (;;) {
      if (closed) return pos;
      if (dl.state === 'failed') {
        res.destroy(dl.error);
        return pos;
      }
      const limit = dl.readable();
      const recent = pos < limit ? dl.fromMemory(pos, limit, FOLLOW_CHUNK) : null;
      if (recent) {
        // One write: the download hands over batches, and a reader that fell
        // a little behind takes what it missed at once.
        const buf = recent.length === 1 ? (recent[0] as Buffer) : Buffer.concat(recent);
        pos += buf.length;
        if (!res.write(buf)) await writable(res);
        continue;
      }
      const inFile = Math.min(limit, dl.flushed);
      if (pos < inFile) {
        // Opened when first needed; the temp file is renamed to its blob path
        // once verified, and an fd opened before the rename keeps working.
        fh ??= await open(dl.tmpPath, 'r').catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err;
          return open(blobPath, 'r');
        });
        const want = Math.min(FOLLOW_CHUNK, inFile - pos);
        const buf = Buffer.allocUnsafe(want);
        const { bytesRead } = await fh.read(buf, 0, want, pos);
        if (bytesRead === 0) throw new Error(`temp file shorter than reported (${pos} < ${inFile})`);
        pos += bytesRead;
        if (!res.write(bytesRead === want ? buf : buf.subarray(0, bytesRead))) await writable(res);
        continue;
      }
      if (dl.complete && pos >= limit) {
        res.end();
        return pos;
      }
      await dl.next();
    }
  } catch (err) {
    ctx.reason = (err as Error).message;
    res.destroy(err as Error);
    return pos;
  } finally {
    await fh?.close();
  }
}
