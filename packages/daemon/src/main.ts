#!/usr/bin/env node
/**
 * The daemon process: environment -> config -> createDaemon -> listen.
 * Signals are handled only here. The CLI starts this file detached.
 */
import { mkdirSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { homePaths, loadConfig, resolveHome, isPipcacheError, type HomePaths } from '@pipcache/shared';
import { createDaemon } from './daemon.js';
import { acquireHomeLock, type HomeLock } from './home-lock.js';

/** At start, a log past this size is kept as `daemon.log.1` (one generation) and a new one begun. */
const LOG_ROTATE_BYTES = 64 * 1024 * 1024;

function rotateLog(file: string): void {
  try {
    if (statSync(file).size > LOG_ROTATE_BYTES) renameSync(file, `${file}.1`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
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
  mkdirSync(dirname(paths.logFile), { recursive: true, mode: 0o700 });
  rotateLog(paths.logFile);
  const config = loadConfig(paths.config, env);
  const logger = pino(
    { level: config.logLevel, base: { pid: process.pid }, redact: ['req.headers["proxy-authorization"]', 'headers["proxy-authorization"]'] },
    pino.destination({ dest: paths.logFile, sync: false, mkdir: true }),
  );
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
      logger.flush();
      setTimeout(() => process.exit(0), 50).unref();
    },
  });
  process.on('SIGTERM', () => void daemon.stop());
  process.on('SIGINT', () => void daemon.stop());
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception');
    lock.release();
    logger.flush();
    process.exit(70);
  });
  const address = await daemon.start();
  writeFileSync(paths.pidFile, JSON.stringify({ pid: process.pid, ...address, startedAt: new Date().toISOString() }), { mode: 0o600 });
  if (announce) process.stdout.write(`pipcache listening on http://${address.host}:${address.port}\n`);
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
