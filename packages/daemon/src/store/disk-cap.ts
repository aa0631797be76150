import { statfs } from 'node:fs/promises';
import { defaultMaxSize } from '@pipcache/shared';
import type { BlobStore } from './blob-store.js';
import type { BlobLedger } from './blob-ledger.js';

/** The cap when the config sets none: a share of the filesystem that holds the home (see `defaultMaxSize`). */
export async function defaultCapFor(home: string): Promise<number> {
  const fs = await statfs(home);
  return defaultMaxSize(fs.blocks * fs.bsize);
}

/**
 * Gives the ledger the sizes its records lack (records of a pipcache that
 * kept none): one stat per such blob, at start. A blob that is gone counts 0
 * (its next hit finds it missing and fetches it again).
 */
export async function sizeUnsized(ledger: BlobLedger, blobs: BlobStore): Promise<number> {
  const unsized = ledger.unsized();
  for (const sha of unsized) ledger.setSize(sha, (await blobs.size(sha)) ?? 0);
  return unsized.length;
}
