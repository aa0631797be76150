import { open, type FileHandle } from 'node:fs/promises';
import type { TLSSocket } from 'node:tls';
import { PipcacheError } from '@pipcache/shared';
import type { Download } from '../files/download.js';
import type { FileService, StoredBlob } from '../files/file-service.js';
import type { UrlRecord } from '../store/catalog.js';
import { writeHead, type RequestContext } from './context.js';
import { answerError } from './answer-error.js';
import { parseRange } from './range.js';
import { ReadBuffers, writable } from './send.js';

/**
 * Most bytes one read of a follower that fell behind carries (a download
 * hands over 512 KiB batches): what each of many clients of one download
 * holds at most.
 */
const FOLLOW_CHUNK = 512 * 1024;
/**
 * Read size of a hit over plain HTTP (index mode). Each client holds two of
 * these (one its socket is taking, one read ahead), reused to the end. 1 MiB
 * reads serve a warm 315 MB wheel at 2.4-2.5 GB/s and 0.35 CPU s/GB, 256 KiB
 * ones at 1.0-1.6 GB/s and 0.6-0.9 (bench compare, same machine).
 */
const HIT_READ_CHUNK = 1024 * 1024;
/**
 * Over TLS (the proxy) a socket holds each write's encrypted records until
 * they are sent, so larger reads cost memory per client (16 clients of the
 * big wheel peaked at 158 MB with 1 MiB) and gain little: encryption, not
 * reading, bounds the speed there.
 */
const HIT_READ_CHUNK_TLS = 256 * 1024;
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
  return pump(ctx, file.path, start, end);
}

/**
 * Streams bytes `start`..`end` of a stored file, reading the next chunk
 * while the socket takes the last one. Returns the body bytes sent; a read
 * error cuts the response.
 */
async function pump(ctx: RequestContext, path: string, start: number, end: number): Promise<number> {
  const { res } = ctx;
  let closed = false;
  res.once('close', () => (closed = true));
  const buffers = new ReadBuffers((res.socket as TLSSocket | null)?.encrypted ? HIT_READ_CHUNK_TLS : HIT_READ_CHUNK);
  let pos = start;
  let fh: FileHandle | undefined;
  let next: Promise<{ buf: Buffer; n: number }> | null = null;
  const read = async (from: number): Promise<{ buf: Buffer; n: number }> => {
    const buf = buffers.take();
    const { bytesRead } = await (fh as FileHandle).read(buf, 0, Math.min(buf.length, end + 1 - from), from);
    if (bytesRead === 0) throw new Error(`${path} is shorter than its record (${from} < ${end + 1})`);
    return { buf, n: bytesRead };
  };
  try {
    fh = await open(path, 'r');
    next = read(pos);
    while (next && !closed) {
      const { buf, n } = await next;
      pos += n;
      const more = buffers.write(res, buf, n);
      next = pos <= end ? read(pos) : null;
      // Not left unhandled if the client goes first (awaited in finally).
      next?.catch(() => undefined);
      if (!more) await writable(res);
    }
    if (!closed) res.end();
  } catch (err) {
    ctx.reason = (err as Error).message;
    res.destroy(err as Error);
  } finally {
    // A read ahead for a client that left is finished before the file closes.
    await next?.catch(() => undefined);
    await fh?.close();
  }
  return pos - start;
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
  const buffers = new ReadBuffers(FOLLOW_CHUNK);
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
        // The chunks the download received, as views, in one corked write
        // (one writev): no copy, and a reader that fell a little behind
        // takes what it missed at once.
        let more = true;
        res.cork();
        for (const view of recent) {
          pos += view.length;
          more = res.write(view);
        }
        res.uncork();
        if (!more) await writable(res);
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
        const buf = buffers.take();
        const { bytesRead } = await fh.read(buf, 0, want, pos);
        if (bytesRead === 0) throw new Error(`temp file shorter than reported (${pos} < ${inFile})`);
        pos += bytesRead;
        if (!buffers.write(res, buf, bytesRead)) await writable(res);
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
