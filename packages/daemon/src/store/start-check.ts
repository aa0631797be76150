import type { Logger } from 'pino';
import type { Store } from './store.js';

/**
 * What the daemon does to its store at start, after the lock on the home is
 * taken and before it listens: records whose blob a crash lost are marked
 * not stored, then the blobs no record holds and every temp file are
 * removed (nothing else can be writing yet, so nothing is too recent).
 */
export async function checkStoreAtStart(store: Store, log: Logger): Promise<void> {
  const started = Date.now();
  const forgotten = await store.forgetMissing();
  const gc = await store.collectGarbage({ keepRecentMs: 0 });
  log.info(
    { recordsForgotten: forgotten, blobsFreed: gc.blobs.count, blobBytesFreed: gc.blobs.bytes, tempFreed: gc.temp.count, tempBytesFreed: gc.temp.bytes, ms: Date.now() - started },
    `store checked: ${gc.blobs.count} blobs no record held (${gc.blobs.bytes} bytes) and ${gc.temp.count} temp files of unfinished writes (${gc.temp.bytes} bytes) removed` +
      (forgotten ? `; ${forgotten} records whose blob was missing or damaged marked not stored` : ''),
  );
}
