import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Bucket } from './bucket.js';
import { TeamTier } from './team-tier.js';
import type { BacklogEntry } from './uploader.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

function fakeBucket(over: Partial<Record<'get' | 'has' | 'upload', (...args: never[]) => Promise<unknown>>>): { bucket: Bucket; uploaded: string[] } {
  const uploaded: string[] = [];
  const bucket = {
    key: (sha: string) => `blobs/${sha}`,
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
});
