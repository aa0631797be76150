import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { PipcacheError } from '@pipcache/shared';
import type { UpstreamResponse } from './client.js';
import { header } from './client.js';

const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);
const brotli = promisify(zlib.brotliDecompress);

/** Index pages are buffered (they are parsed whole); anything larger is refused. */
export const MAX_PAGE_BYTES = 128 * 1024 * 1024;

/** Reads a (small) upstream body, undoing its Content-Encoding. */
export async function readDecoded(res: UpstreamResponse, url: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body) {
    total += (chunk as Buffer).length;
    if (total > MAX_PAGE_BYTES) {
      res.body.destroy();
      throw new PipcacheError('E_PAGE_INVALID', `${url}: page larger than ${MAX_PAGE_BYTES} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  const raw = Buffer.concat(chunks);
  const encoding = (header(res.headers, 'content-encoding') ?? 'identity').trim().toLowerCase();
  try {
    switch (encoding) {
      case 'identity':
      case '':
        return raw;
      case 'gzip':
      case 'x-gzip':
        return await gunzip(raw);
      case 'deflate':
        return await inflate(raw);
      case 'br':
        return await brotli(raw);
      default:
        throw new PipcacheError('E_PAGE_INVALID', `${url}: unsupported Content-Encoding ${encoding}`);
    }
  } catch (err) {
    if (err instanceof PipcacheError) throw err;
    throw new PipcacheError('E_PAGE_INVALID', `${url}: cannot decode ${encoding} body: ${(err as Error).message}`, { cause: err });
  }
}
