#!/usr/bin/env node
/**
 * The daemon process: environment -> config -> createDaemon -> listen.
 * Signals are handled only here. The CLI starts this file detached.
 */
import { mkdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { homePaths, loadConfig, resolveHome, isPipcacheError, type Config, type HomePaths } from '@pipcache/shared';
import { createDaemon } from './daemon.js';
import { acquireHomeLock, type HomeLock } from './home-lock.js';
import { RotatingFile } from './log/rotating-file.js';
import { isCommitFailure } from './store/lmdb-catalog.js';
import { watchConfig } from './watch.js';

/** How long a stopping daemon waits for its log to reach the disk before exiting anyway. */
const LOG_CLOSE_WAIT_MS = 2000;

/**
 * The log file, rotated by size. Its own failures go to stderr (daemon.out),
 * once per kind in a row, so a full disk does not fill that file instead.
 */
function openLogFile(paths: HomePaths, config: Config): RotatingFile {
  let lastProblem = '';
  return new RotatingFile({
    file: paths.logFile,
    ...config.log,
    onError: (err) => {
      const problem = (err as NodeJS.ErrnoException).code ?? err.message;
      if (problem === lastProblem) return;
      lastProblem = problem;
      process.stderr.write(`pipcache daemon: log ${paths.logFile}: ${err.message}\n`);
    },
  });
}

export interface RunDaemonOptions {
  env: NodeJS.ProcessEnv;
  /** Print the listening address on stdout (foreground mode). */
  announce?: boolean;
}

export async function runDaemon({ env, announce }: RunDaemonOptions): Promise<void> {
  const paths = homePaths(resolveHome(env));
  mkdirSync(paths.home, { recursive: true, mode: 0o700 });
  // One daemon per home: nothing else in it is touched before this.
  const lock = acquireHomeLock(paths.home);
  try {
    await serve(paths, lock, { env, announce });
  } catch (err) {
    lock.release();
    throw err;
  }
}

async function serve(paths: HomePaths, lock: HomeLock, { env, announce }: RunDaemonOptions): Promise<void> {
  const config = loadConfig(paths.config, env);
  const logFile = openLogFile(paths, config);
  // Whatever way the process ends, what is queued for the log is written first.
  process.on('exit', () => logFile.flushSync());
  const logger = pino(
    { level: config.logLevel, base: { pid: process.pid }, redact: ['req.headers["proxy-authorization"]', 'headers["proxy-authorization"]', 'req.headers.authorization', 'headers.authorization'] },
    logFile,
  );
  let logConfigWatcher: Awaited<ReturnType<typeof watchConfig>> | undefined;
  const daemon = createDaemon({
    config,
    paths,
    logger,
    env,
    ...(env.NODE_EXTRA_CA_CERTS ? { extraCaFile: env.NODE_EXTRA_CA_CERTS } : {}),
    onStopped: () => {
      rmSync(paths.pidFile, { force: true });
      rmSync(paths.socket, { force: true });
      lock.release();
      void logConfigWatcher?.close();
      setTimeout(() => process.exit(0), LOG_CLOSE_WAIT_MS).unref();
      void logFile.close().then(() => process.exit(0));
    },
  });
  process.on('SIGTERM', () => void daemon.stop());
  process.on('SIGINT', () => void daemon.stop());
  process.on('unhandledRejection', (reason) => {
    // lmdb-js rejects a failed commit's writes (a full disk) in ways a caller
    // cannot always catch (its shared commit promise): the write that failed
    // is already reported by its caller. Anything else is a bug: fatal.
    if (isCommitFailure(reason)) {
      logger.error({ err: reason.message }, 'the catalog could not be written (is the disk full?)');
      return;
    }
    throw reason;
  });
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception');
    lock.release();
    logFile.flushSync();
    process.exit(70);
  });
  const address = await daemon.start();
  writeFileSync(paths.pidFile, JSON.stringify({ pid: process.pid, ...address, startedAt: new Date().toISOString() }), { mode: 0o600 });
  if (announce) process.stdout.write(`pipcache listening on http://${address.host}:${address.port}\n`);
  // The daemon applies the rest of a reloaded config; the rotation limits
  // belong to the log file, so they follow the file here. Rejections are
  // already logged by the daemon's own watcher.
  logConfigWatcher = await watchConfig(paths.config, env, (next) => logFile.configure(next.log), logger.child({ mod: 'log' }, { level: 'silent' }));
}

/**
 * True when node was started on this file. Comparing whole real paths, not
 * base names: the CLI's own entry is also a main.js, and its foreground start
 * imports this module, which must then not start a second daemon.
 */
function isEntryScript(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryScript()) {
  runDaemon({ env: process.env, announce: true }).catch((err: unknown) => {
    const message = isPipcacheError(err) ? err.message : String((err as Error).stack ?? err);
    process.stderr.write(`pipcache daemon: ${message}\n`);
    if (isPipcacheError(err) && err.hint) process.stderr.write(`hint: ${err.hint}\n`);
    if (isPipcacheError(err)) process.stderr.write(`code: ${err.code}\n`);
    process.exit(isPipcacheError(err) ? err.exitCode || 1 : 1);
  });
}
