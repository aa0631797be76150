/**
 * install / uninstall / status of the pipcache service: write the file,
 * check it, and have the service manager load it, or, where the manager
 * cannot be reached from here (a container, an SSH session without a user
 * bus), say why and print the exact commands.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { PipcacheError } from '@pipcache/shared';
import { firstLine, type ServiceHost } from './host.js';
import { managerFor, type ManagerState, type Verification } from './managers.js';
import type { ServiceSpec } from './units.js';

/** Commands the user runs because they could not be run here, and why. */
export interface Manual {
  reason: string;
  commands: string[][];
}

export interface InstallResult {
  manager: 'systemd' | 'launchd';
  file: string;
  content: string;
  /** false with --print, or when the file already held exactly this. */
  written: boolean;
  verification: Verification | null;
  /** Loaded (and, unless a daemon started by hand runs, started) by the manager. */
  loaded: boolean;
  started: boolean;
  manual: Manual | null;
}

export interface InstallOptions {
  print: boolean;
  /** pid of a daemon already running on this home, if any. */
  runningPid: number | null;
}

function readOrNull(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

function restore(file: string, previous: string | null): void {
  if (previous === null) rmSync(file, { force: true });
  else writeFileSync(file, previous, { mode: 0o644 });
}

export function installService(host: ServiceHost, spec: ServiceSpec, opts: InstallOptions): InstallResult {
  const m = managerFor(host);
  const content = m.render(spec);
  const base = { manager: m.name, file: m.file, content };
  if (opts.print) return { ...base, written: false, verification: null, loaded: false, started: false, manual: null };

  const previous = readOrNull(m.file);
  const changed = previous !== content;
  mkdirSync(dirname(m.file), { recursive: true });
  if (changed) writeFileSync(m.file, content, { mode: 0o644 });
  const verification = m.verify(m.file);
  if (verification && !verification.ok) {
    // A unit the manager would reject or half-read is not left behind.
    restore(m.file, previous);
    throw new PipcacheError('E_SERVICE', `${verification.tool} rejects ${m.file}: ${verification.problems.join('; ')}`);
  }

  // A daemon started by hand holds the home: the service would fail to
  // start (and be restarted in a loop), so it is enabled for later only.
  const start = opts.runningPid === null;
  const handOver = start ? null : { reason: `a daemon started by hand runs on this home (pid ${opts.runningPid})`, commands: [['pipcache', 'stop'], m.startCommand] };
  const unusable = m.unusable();
  if (unusable) {
    const commands = start ? m.loadCommands(true) : [...m.loadCommands(false), ...(handOver?.commands ?? [])];
    return { ...base, written: changed, verification, loaded: false, started: false, manual: { reason: unusable, commands } };
  }
  const r = m.load(start, changed && previous !== null);
  if (r.code !== 0) {
    throw new PipcacheError('E_SERVICE', `${m.name} did not load ${m.file}: ${firstLine(r)}`);
  }
  return { ...base, written: changed, verification, loaded: true, started: start, manual: handOver };
}

export interface UninstallResult {
  manager: 'systemd' | 'launchd';
  file: string;
  removed: boolean;
  unloaded: boolean;
  manual: Manual | null;
}

export function uninstallService(host: ServiceHost): UninstallResult {
  const m = managerFor(host);
  const base = { manager: m.name, file: m.file };
  if (!existsSync(m.file)) return { ...base, removed: false, unloaded: false, manual: null };
  const unusable = m.unusable();
  if (unusable) {
    // Removing the files is still right: the manager reads them again at its next start.
    for (const f of [m.file, ...m.leftovers]) rmSync(f, { force: true });
    return { ...base, removed: true, unloaded: false, manual: { reason: unusable, commands: m.unloadCommands() } };
  }
  const r = m.unload();
  rmSync(m.file, { force: true });
  m.forget();
  const manual = r.code === 0 ? null : { reason: `${m.name} did not unload it: ${firstLine(r)}`, commands: m.unloadCommands() };
  return { ...base, removed: true, unloaded: r.code === 0, manual };
}

export interface StatusResult {
  manager: 'systemd' | 'launchd';
  file: string;
  installed: boolean;
  /** The file holds what `install` would write now (same node, CLI and home). */
  current: boolean;
  state: ManagerState;
  /** Why enabled/active are unknown, when the manager cannot be asked. */
  unknownBecause: string | null;
}

export function serviceStatus(host: ServiceHost, spec: ServiceSpec): StatusResult {
  const m = managerFor(host);
  const content = readOrNull(m.file);
  const unusable = m.unusable();
  return {
    manager: m.name,
    file: m.file,
    installed: content !== null,
    current: content === m.render(spec),
    state: unusable ? { enabled: 'unknown', active: 'unknown' } : m.state(),
    unknownBecause: unusable,
  };
}
