import { linkSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PipcacheError } from '@pipcache/shared';

/** What the lock file holds: who owns the home. */
export interface LockOwner {
  pid: number;
  /** When the owning process started (ISO 8601). */
  startedAt: string;
}

export interface HomeLock {
  readonly path: string;
  /** Removes the lock file when it is still ours. */
  release(): void;
}

/** Attempts to take the lock; past this, a lock that keeps changing hands is reported as held. */
const MAX_ATTEMPTS = 5;

export const LOCK_FILE = 'daemon.lock';

function readOwner(path: string): LockOwner | null {
  try {
    const o = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockOwner>;
    return typeof o.pid === 'number' && Number.isInteger(o.pid) && o.pid > 0 ? { pid: o.pid, startedAt: String(o.startedAt ?? '') } : null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw err;
    return null; // unparseable: not written by a pipcache daemon; treated as stale
  }
}

/**
 * True while `pid` is a live process (EPERM: alive, owned by someone else).
 * A zombie is dead: it never runs again, but it answers signal 0 until its
 * parent reaps it, which a non-reaping init (a container's, say) never does.
 */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return true; // no procfs: trust the signal
  }
  return !/^\d+ \(.*\) Z/s.test(stat);
}

function held(path: string, owner: LockOwner): PipcacheError {
  return new PipcacheError(
    'E_DAEMON_RUNNING',
    `another pipcache daemon (pid ${owner.pid}, started ${owner.startedAt || 'at an unknown time'}) holds ${path}; nothing in the home was touched`,
    { hint: 'use that daemon, or stop it first with `pipcache stop`' },
  );
}

/**
 * Takes the exclusive lock on a home: `daemon.lock`, holding the owner's pid
 * and start time. The file is written whole under a temp name and hardlinked
 * into place (link(2) fails with EEXIST when the lock exists), so a reader
 * never sees a half-written lock. A lock whose pid is dead is stale: it is
 * renamed away (atomic, so two starters cannot both take it over) and the
 * attempt is repeated. Throws E_DAEMON_RUNNING when a live process holds it.
 * Synchronous: it runs before anything else touches the home.
 */
export function acquireHomeLock(home: string): HomeLock {
  const path = join(home, LOCK_FILE);
  const me: LockOwner = { pid: process.pid, startedAt: new Date(Date.now() - process.uptime() * 1000).toISOString() };
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(me)}\n`, { mode: 0o600 });
  try {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      try {
        linkSync(tmp, path);
        return {
          path,
          release: () => {
            try {
              if (readOwner(path)?.pid === me.pid) rmSync(path, { force: true });
            } catch (err) {
              if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
            }
          },
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      let owner: LockOwner | null;
      try {
        owner = readOwner(path);
      } catch {
        continue; // released between our link and our read: try again
      }
      if (owner && owner.pid !== me.pid && alive(owner.pid)) throw held(path, owner);
      // Stale. Move it aside under a name of our own; whoever loses this race
      // finds ENOENT and simply tries the link again.
      const aside = `${path}.stale.${process.pid}`;
      try {
        renameSync(path, aside);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      // What we moved may be a fresh lock another starter took after our read.
      const moved = readOwner(aside);
      if (moved && moved.pid !== me.pid && alive(moved.pid)) {
        try {
          linkSync(aside, path);
        } finally {
          rmSync(aside, { force: true });
        }
        throw held(path, moved);
      }
      rmSync(aside, { force: true });
    }
    throw new PipcacheError('E_DAEMON_RUNNING', `could not take ${path}: it kept changing hands (another daemon is starting)`);
  } finally {
    rmSync(tmp, { force: true });
  }
}
