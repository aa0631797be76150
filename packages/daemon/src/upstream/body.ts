import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { PipcacheError } from '@pipcache/shared';
import type { UpstreamResponse } from './client.js';
import { header } from './client.js';

const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);
const brotli = promisify(zlib.brotliDecompress);

/**
 * Reads an index page body (pages are parsed whole, so they are buffered),
 * undoing its Content-Encoding. `maxBytes` bounds the body both as sent and
 * once decompressed: a small gzip or deflate bomb is refused, not expanded.
 */
export async function readDecoded(res: UpstreamResponse, url: string, maxBytes: number): Promise<Buffer> {
  const tooLarge = (): PipcacheError => new PipcacheError('E_LIMIT', `${url}: page larger than ${maxBytes} bytes (limits.pageBytes)`);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body) {
    total += (chunk as Buffer).length;
    if (total > maxBytes) {
      res.body.destroy();
      throw tooLarge();
    }
    chunks.push(chunk as Buffer);
  }
  const raw = Buffer.concat(chunks);
  const encoding = (header(res.headers, 'content-encoding') ?? 'identity').trim().toLowerCase();
  const opts = { maxOutputLength: maxBytes };
  try {
    switch (encoding) {
      case 'identity':
      case '':
        return raw;
      case 'gzip':
      case 'x-gzip':
        return await gunzip(raw, opts);
      case 'deflate':
        return await inflate(raw, opts);
      case 'br':
        return await brotli(raw, opts);
      default:
        throw new PipcacheError('E_PAGE_INVALID', `${url}: unsupported Content-Encoding ${encoding}`);
    }
  } catch (err) {
    if (err instanceof PipcacheError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge();
    throw new PipcacheError('E_PAGE_INVALID', `${url}: cannot decode ${encoding} body: ${(err as Error).message}`, { cause: err });
  }
}
