import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../store/fs-blob-store.js';
import type { UpstreamClient } from '../upstream/client.js';
import { Download } from './download.js';
import type { SharedBlobs } from './shared-blobs.js';

const BODY = Buffer.from('the verified bytes of a wheel, '.repeat(100));
const SHA = createHash('sha256').update(BODY).digest('hex');
const URL_ = 'https://files.example/a-1.0-py3-none-any.whl';

let dir: string;
let blobs: FsBlobStore;
let upstreamCalls: number;

const upstream = {
  request: async () => {
    upstreamCalls++;
    return { status: 200, headers: { 'content-length': String(BODY.length) }, body: Readable.from([BODY]) };
  },
} as unknown as UpstreamClient;

function download(shared: SharedBlobs, expectedSize: number | null = BODY.length): Download {
  return new Download(URL_, SHA, expectedSize, blobs, upstream, pino({ level: 'silent' }), async () => undefined, 1024 ** 3, {}, shared);
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pipcache-dl-'));
  blobs = new FsBlobStore(join(dir, 'blobs'), join(dir, 'tmp'));
  await blobs.init();
  upstreamCalls = 0;
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('a download with a shared tier', () => {
  it('takes a good object from the tier: verified, stored, nothing upstream, nothing uploaded', async () => {
    const calls: string[] = [];
    const shared: SharedBlobs = {
      get: async () => ({ body: Readable.from([BODY]), size: BODY.length }),
      put: (sha) => void calls.push(`put ${sha}`),
      refuse: (sha) => void calls.push(`refuse ${sha}`),
      served: (sha) => void calls.push(`served ${sha}`),
    };
    const dl = download(shared);
    await dl.run();
    expect(dl.state).toBe('done');
    expect(dl.source).toBe('shared');
    expect(upstreamCalls).toBe(0);
    expect(calls).toEqual([`served ${SHA}`]);
    expect((await readFile(blobs.path(SHA))).equals(BODY)).toBe(true);
  });

  it('refuses an object with the wrong digest before serving a byte, and goes upstream in the same download', async () => {
    const bad = Buffer.from(BODY);
    bad.writeUInt8(bad.readUInt8(7) ^ 1, 7);
    const calls: string[] = [];
    const shared: SharedBlobs = {
      get: async () => ({ body: Readable.from([bad]), size: bad.length }),
      put: (sha) => void calls.push(`put ${sha}`),
      refuse: (sha) => void calls.push(`refuse ${sha}`),
      served: (sha) => void calls.push(`served ${sha}`),
    };
    const dl = download(shared);
    let servedBeforeDone = 0;
    dl.on('progress', () => {
      if (!dl.complete) servedBeforeDone = Math.max(servedBeforeDone, dl.readable());
    });
    await dl.run();
    expect(dl.state).toBe('done');
    expect(dl.source).toBe('upstream');
    expect(upstreamCalls).toBe(1);
    expect(calls).toEqual([`refuse ${SHA}`, `put ${SHA}`]);
    expect((await readFile(blobs.path(SHA))).equals(BODY)).toBe(true);
    // Only upstream's bytes were ever readable, and never the last one before they were verified.
    expect(servedBeforeDone).toBeLessThanOrEqual(BODY.length - 1);
  });

  it('refuses an object of the wrong size without reading it', async () => {
    const calls: string[] = [];
    const shared: SharedBlobs = {
      get: async () => ({ body: Readable.from([BODY, BODY]), size: BODY.length * 2 }),
      put: (sha) => void calls.push(`put ${sha}`),
      refuse: (sha) => void calls.push(`refuse ${sha}`),
      served: (sha) => void calls.push(`served ${sha}`),
    };
    const dl = download(shared);
    await dl.run();
    expect(dl.state).toBe('done');
    expect(calls).toEqual([`refuse ${SHA}`, `put ${SHA}`]);
  });

  it('streams an object of unknown size held one byte short; a wrong digest fails the download and caches nothing', async () => {
    const bad = Buffer.concat([BODY, Buffer.from('x')]);
    const calls: string[] = [];
    const shared: SharedBlobs = {
      get: async () => ({ body: Readable.from([bad]), size: null }),
      put: (sha) => void calls.push(`put ${sha}`),
      refuse: (sha) => void calls.push(`refuse ${sha}`),
      served: (sha) => void calls.push(`served ${sha}`),
    };
    const dl = download(shared, null);
    let readable = 0;
    dl.on('progress', () => {
      if (dl.state === 'running') readable = Math.max(readable, dl.readable());
    });
    await dl.run();
    expect(dl.state).toBe('failed');
    expect(dl.error?.code).toBe('E_HASH_MISMATCH');
    expect(readable).toBeLessThan(bad.length);
    expect(upstreamCalls).toBe(0);
    expect(calls).toEqual([`refuse ${SHA}`]);
    expect(await blobs.size(SHA)).toBeNull();
  });

  it('goes upstream on a miss in the tier, then queues the verified blob for upload', async () => {
    const calls: string[] = [];
    const shared: SharedBlobs = {
      get: async () => null,
      put: (sha, size) => void calls.push(`put ${sha} ${size}`),
      refuse: (sha) => void calls.push(`refuse ${sha}`),
      served: (sha) => void calls.push(`served ${sha}`),
    };
    const dl = download(shared);
    await dl.run();
    expect(dl.state).toBe('done');
    expect(upstreamCalls).toBe(1);
    expect(calls).toEqual([`put ${SHA} ${BODY.length}`]);
  });
});
