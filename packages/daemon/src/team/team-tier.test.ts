import { pino } from 'pino';
import { PipcacheError } from '@pipcache/shared';
import { describe, expect, it } from 'vitest';
import type { Bucket } from './bucket.js';
import { TeamTier } from './team-tier.js';
import type { BacklogEntry } from './uploader.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

function fakeBucket(over: Partial<Record<'get' | 'has' | 'upload' | 'getText' | 'putText', (...args: never[]) => Promise<unknown>>>): { bucket: Bucket; uploaded: string[] } {
  const uploaded: string[] = [];
  const bucket = {
    key: (sha: string) => `blobs/${sha}`,
    pageKey: (origin: string, project: string) => `pages/${origin}/${project}.json`,
    getText: async () => null,
    putText: async () => undefined,
    describe: () => 's3://team/',
    get: async () => null,
    has: async () => false,
    upload: async (sha: string) => void uploaded.push(sha),
    destroy: () => undefined,
    ...over,
  } as unknown as Bucket;
  return { bucket, uploaded };
}

function tier(bucket: Bucket, saved: BacklogEntry[][], initial: BacklogEntry[] = [], lines: string[] = []): TeamTier {
  return new TeamTier({
    bucket,
    blobPath: (sha) => `/blobs/${sha}`,
    blobSize: async () => 10,
    backlog: { load: () => initial, save: async (e) => void saved.push([...e]) },
    log: pino({ level: 'info' }, { write: (l: string) => void lines.push(l) }),
  });
}

describe('the team tier', () => {
  it('uploads the backlog kept from before a restart, skipping objects already in the bucket', async () => {
    const { bucket, uploaded } = fakeBucket({ has: async (sha: never) => sha === A });
    const saved: BacklogEntry[][] = [];
    const t = tier(bucket, saved, [
      { sha256: A, size: 10 },
      { sha256: B, size: 10 },
    ]);
    t.start();
    await t.idle();
    expect(uploaded).toEqual([B]);
    expect(saved.at(-1)).toEqual([]);
    expect(t.status()).toMatchObject({ uploads: 1, backlog: 0, state: 'up' });
    await t.stop();
  });

  it('keeps a failed upload in the backlog, goes down, says so once, and skips lookups while down', async () => {
    let gets = 0;
    const { bucket } = fakeBucket({
      upload: async () => {
        throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      },
      get: async () => {
        gets++;
        throw new Error('unreachable');
      },
    });
    const saved: BacklogEntry[][] = [];
    const lines: string[] = [];
    const t = tier(bucket, saved, [], lines);
    t.put(A, 10);
    await t.idle();
    expect(saved.at(-1)).toEqual([{ sha256: A, size: 10 }]);
    expect(await t.get(B)).toBeNull();
    expect(await t.get(B)).toBeNull();
    expect(gets).toBe(0);
    expect(t.status()).toMatchObject({ state: 'down', backlog: 1, errors: 1, uploads: 0 });
    expect(lines.filter((l) => l.includes('team bucket unavailable'))).toHaveLength(1);
    await t.stop();
  });

  it('does not ask again for a refused object', async () => {
    let gets = 0;
    const { bucket } = fakeBucket({
      get: async () => {
        gets++;
        return null;
      },
    });
    const t = tier(bucket, []);
    t.refuse(A, 'sha256 mismatch');
    expect(await t.get(A)).toBeNull();
    expect(gets).toBe(0);
    expect(t.status().refused).toBe(1);
    await t.stop();
  });

  it('writes a page in the background, and not again while its listing is unchanged', async () => {
    const put: string[] = [];
    const { bucket } = fakeBucket({ putText: async (key: never, json: never) => void put.push(`${key} ${json}`) });
    const t = tier(bucket, []);
    t.pages.write('pypi.org', 'demo', { json: '{"v":1}', listingDigest: 'd1' });
    await new Promise((r) => setTimeout(r, 10));
    t.pages.write('pypi.org', 'demo', { json: '{"v":1,"later":1}', listingDigest: 'd1' });
    t.pages.write('pypi.org', 'demo', { json: '{"v":2}', listingDigest: 'd2' });
    await new Promise((r) => setTimeout(r, 10));
    expect(put).toEqual(['pages/pypi.org/demo.json {"v":1}', 'pages/pypi.org/demo.json {"v":2}']);
    expect(t.status().pages).toEqual({ written: 2, read: 0, refused: 0 });
    await t.stop();
  });

  it('counts a failed page write, goes down saying so once, and answers reads as unavailable meanwhile', async () => {
    let reads = 0;
    const { bucket } = fakeBucket({
      putText: async () => {
        throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      },
      getText: async () => {
        reads++;
        return '{}';
      },
    });
    const lines: string[] = [];
    const t = tier(bucket, [], [], lines);
    t.pages.write('pypi.org', 'a', { json: '{}', listingDigest: 'a' });
    await new Promise((r) => setTimeout(r, 10));
    t.pages.write('pypi.org', 'b', { json: '{}', listingDigest: 'b' });
    expect(await t.pages.read('pypi.org', 'a', 1000)).toEqual({ kind: 'unavailable', reason: 'left alone after a failure' });
    expect(reads).toBe(0);
    expect(t.status()).toMatchObject({ state: 'down', errors: 1, pages: { written: 0 } });
    expect(lines.filter((l) => l.includes('team bucket unavailable'))).toHaveLength(1);
    await t.stop();
  });

  it('reads a page, tells absent from found, and refuses one over the size limit without blaming the bucket', async () => {
    const { bucket } = fakeBucket({
      getText: async (key: never) => {
        if ((key as string).includes('/big.json')) throw new PipcacheError('E_LIMIT', 'too large');
        return (key as string).includes('/there.json') ? '{"doc":1}' : null;
      },
    });
    const t = tier(bucket, []);
    expect(await t.pages.read('pypi.org', 'there', 1000)).toEqual({ kind: 'found', text: '{"doc":1}' });
    expect(await t.pages.read('pypi.org', 'gone', 1000)).toEqual({ kind: 'absent' });
    expect(await t.pages.read('pypi.org', 'big', 1000)).toMatchObject({ kind: 'unavailable' });
    expect(t.status()).toMatchObject({ state: 'up', errors: 0, pages: { refused: 1 } });
    await t.stop();
  });
});
