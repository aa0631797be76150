import type { Logger } from 'pino';
import type { HomePaths } from '@pipcache/shared';
import type { BlobStore } from './blob-store.js';
import type { Catalog } from './catalog.js';
import { FsBlobStore } from './fs-blob-store.js';
import { adoptLegacyCatalog } from './catalog-layout.js';
import { LmdbCatalog } from './lmdb-catalog.js';

/** Opens the blob store and the catalog of a home (which must be locked), migrating an older catalog. */
export async function openStore(paths: HomePaths, log: Logger): Promise<{ catalog: Catalog; blobs: BlobStore }> {
  const blobs = new FsBlobStore(paths.blobs, paths.tmp);
  await blobs.init();
  if (await adoptLegacyCatalog(paths.legacyCatalog, paths.catalog)) log.info({ from: paths.legacyCatalog, to: paths.catalog }, 'moved the catalog to its new directory');
  const catalog = new LmdbCatalog(paths.catalog);
  const migrated = await catalog.migrate();
  if (migrated) {
    log.info(
      migrated,
      `migrated the catalog from layout ${migrated.from} to ${migrated.to}: ${migrated.files} files, ${migrated.pages} pages, ${migrated.urls} URLs kept` +
        (migrated.dropped ? `, ${migrated.dropped} unreadable records dropped (their pages are fetched again)` : ''),
    );
  }
  return { catalog, blobs };
}
