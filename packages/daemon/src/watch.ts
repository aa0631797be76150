import { mkdir, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from 'pino';
import { loadConfig, type Config, type ImportResult } from '@pipcache/shared';

/** Files dropped here are imported once their size has been stable this long. */
const INBOX_SETTLE_MS = 1000;

/**
 * Watches the inbox: each file dropped there is imported once fully written
 * (its size stable), then removed; a file that fails to import stays, and the
 * log says why.
 */
export async function watchInbox(
  dir: string,
  importFile: (path: string, result: ImportResult) => Promise<void>,
  log: Logger,
): Promise<FSWatcher> {
  await mkdir(dir, { recursive: true });
  const watcher = watch(dir, {
    ignoreInitial: false,
    depth: 0,
    ignored: (p: string) => /\/\.[^/]*$/.test(p),
    awaitWriteFinish: { stabilityThreshold: INBOX_SETTLE_MS, pollInterval: 100 },
  });
  watcher.on('add', (path: string) => {
    const result: ImportResult = { imported: [], already: [], skipped: [] };
    importFile(path, result)
      .then(async () => {
        if (result.skipped.length > 0) {
          log.warn({ path, reason: result.skipped[0]?.reason }, 'inbox file not imported');
          return;
        }
        await rm(path, { force: true });
      })
      .catch((err: Error) => log.error({ path, err: err.message }, 'inbox import failed'));
  });
  watcher.on('error', (err) => log.error({ err: String(err) }, 'inbox watcher error'));
  await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  return watcher;
}

/**
 * Watches the config file and hands every valid new version to `apply`; a
 * file that does not parse is rejected with a logged reason and the running
 * config stays.
 */
export async function watchConfig(
  file: string,
  env: NodeJS.ProcessEnv,
  apply: (next: Config) => void,
  log: Logger,
): Promise<FSWatcher> {
  // Watch the directory, not the file: editors replace files by rename.
  const watcher = watch(dirname(file), {
    ignoreInitial: true,
    depth: 0,
    ignored: (p: string) => p !== dirname(file) && p !== file,
    awaitWriteFinish: { stabilityThreshold: 200, pollInterval: 50 },
  });
  const reload = (): void => {
    try {
      apply(loadConfig(file, env));
    } catch (err) {
      log.error({ file, err: (err as Error).message }, 'config change rejected; keeping the running config');
    }
  };
  watcher.on('add', reload);
  watcher.on('change', reload);
  watcher.on('unlink', reload);
  await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  return watcher;
}
