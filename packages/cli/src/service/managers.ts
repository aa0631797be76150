/**
 * systemd (user) and launchd, behind one small interface: where the file
 * goes, how it is checked, and the commands that load, unload and query it.
 */
import { basename, dirname, join } from 'node:path';
import { firstLine, type CommandResult, type ServiceHost } from './host.js';
import { LAUNCHD_LABEL, SYSTEMD_UNIT_NAME, launchdPlist, systemdUnit, type ServiceSpec } from './units.js';

export interface Verification {
  tool: string;
  ok: boolean;
  /** What the tool said about this file (warnings count as problems). */
  problems: string[];
}

export interface ManagerState {
  /** Whether the manager will start it at login (systemd: is-enabled; launchd: loaded). */
  enabled: string;
  /** Whether it runs now (systemd: is-active; launchd: state). */
  active: string;
}

export interface Manager {
  name: 'systemd' | 'launchd';
  file: string;
  render(spec: ServiceSpec): string;
  /** null when no checking tool is installed. */
  verify(file: string): Verification | null;
  /** Why the manager cannot be driven from here, or null when it can. */
  unusable(): string | null;
  state(): ManagerState;
  /** Loads and starts it (`start`: false only enables it for the next login). */
  load(start: boolean, changed: boolean): CommandResult;
  unload(): CommandResult;
  /** Lets the manager forget a removed file now rather than at its next start. */
  forget(): void;
  /** Files besides `file` that loading created (systemd's enable link), removed by hand when the manager cannot be reached. */
  leftovers: string[];
  /** The same steps as commands for the user, when they cannot be run from here. */
  loadCommands(start: boolean): string[][];
  unloadCommands(): string[][];
  /** Starts the loaded service now (to take over from a daemon started by hand). */
  startCommand: string[];
}

/** Lines of a verifier's output that concern this file (a system may carry other broken units). */
function aboutFile(r: CommandResult, file: string): string[] {
  const name = basename(file);
  return `${r.stderr}\n${r.stdout}`
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && (l.includes(file) || l.includes(name)));
}

function systemd(host: ServiceHost): Manager {
  const configHome = host.env.XDG_CONFIG_HOME || join(host.homeDir, '.config');
  const file = join(configHome, 'systemd', 'user', SYSTEMD_UNIT_NAME);
  const ctl = (...args: string[]): CommandResult => host.runCommand('systemctl', ['--user', ...args]);
  return {
    name: 'systemd',
    file,
    render: systemdUnit,
    verify(path) {
      let r = host.runCommand('systemd-analyze', ['--user', 'verify', path]);
      if (r.missing) return null;
      // Without a user session (no runtime directory) the user manager
      // cannot be emulated and fails with nothing to say about the unit; the
      // system manager parses the same unit syntax.
      let tool = 'systemd-analyze --user verify';
      if (r.code !== 0 && aboutFile(r, path).length === 0) {
        r = host.runCommand('systemd-analyze', ['verify', path]);
        tool = 'systemd-analyze verify';
      }
      const problems = aboutFile(r, path);
      if (r.code !== 0 && problems.length === 0) problems.push(firstLine(r));
      return { tool, ok: r.code === 0 && problems.length === 0, problems };
    },
    unusable() {
      // A read-only question: it needs the same user bus as every other step.
      const r = ctl('show-environment');
      if (r.missing) return 'systemctl is not installed';
      return r.code === 0 ? null : `systemctl --user cannot reach a user service manager (${firstLine(r)})`;
    },
    state() {
      const word = (r: CommandResult): string => (r.missing ? 'unknown' : r.stdout.trim() || firstLine(r));
      return { enabled: word(ctl('is-enabled', SYSTEMD_UNIT_NAME)), active: word(ctl('is-active', SYSTEMD_UNIT_NAME)) };
    },
    load(start, changed) {
      const reload = ctl('daemon-reload');
      if (reload.code !== 0) return reload;
      const r = ctl('enable', ...(start ? ['--now'] : []), SYSTEMD_UNIT_NAME);
      // enable --now leaves a running service on its old command line.
      return r.code === 0 && start && changed ? ctl('try-restart', SYSTEMD_UNIT_NAME) : r;
    },
    unload: () => ctl('disable', '--now', SYSTEMD_UNIT_NAME),
    forget: () => void ctl('daemon-reload'),
    loadCommands: (start) => [
      ['systemctl', '--user', 'daemon-reload'],
      ['systemctl', '--user', 'enable', ...(start ? ['--now'] : []), SYSTEMD_UNIT_NAME],
    ],
    // Run after the files are gone: stop what may still run, forget the unit.
    unloadCommands: () => [
      ['systemctl', '--user', 'stop', SYSTEMD_UNIT_NAME],
      ['systemctl', '--user', 'daemon-reload'],
    ],
    leftovers: [join(dirname(file), 'default.target.wants', SYSTEMD_UNIT_NAME)],
    startCommand: ['systemctl', '--user', 'start', SYSTEMD_UNIT_NAME],
  };
}

function launchd(host: ServiceHost): Manager {
  const file = join(host.homeDir, 'Library', 'LaunchAgents', `${LAUNCHD_LABEL}.plist`);
  const domain = `gui/${host.uid}`;
  const target = `${domain}/${LAUNCHD_LABEL}`;
  const ctl = (...args: string[]): CommandResult => host.runCommand('launchctl', args);
  const loaded = (): CommandResult => ctl('print', target);
  return {
    name: 'launchd',
    file,
    render: launchdPlist,
    verify(path) {
      const r = host.runCommand('plutil', ['-lint', path]);
      if (r.missing) return null;
      return { tool: 'plutil -lint', ok: r.code === 0, problems: r.code === 0 ? [] : [firstLine(r)] };
    },
    unusable() {
      const r = ctl('print', domain);
      if (r.missing) return 'launchctl is not installed (not macOS)';
      return r.code === 0 ? null : `launchctl cannot reach the login session's domain ${domain} (${firstLine(r)})`;
    },
    state() {
      const r = loaded();
      if (r.missing) return { enabled: 'unknown', active: 'unknown' };
      if (r.code !== 0) return { enabled: 'not loaded', active: 'inactive' };
      return { enabled: 'loaded', active: /^\s*state = running/m.test(r.stdout) ? 'active' : 'inactive' };
    },
    load(start) {
      // Not started: an agent in LaunchAgents is loaded at the next login anyway.
      if (!start) return { code: 0, stdout: '', stderr: '', missing: false };
      // A changed plist is read only when bootstrapped again.
      if (loaded().code === 0) ctl('bootout', target);
      return ctl('bootstrap', domain, file);
    },
    unload: () => ctl('bootout', target),
    forget: () => undefined,
    loadCommands: (start) => (start ? [['launchctl', 'bootstrap', domain, file]] : []),
    unloadCommands: () => [['launchctl', 'bootout', target]],
    leftovers: [],
    startCommand: ['launchctl', 'bootstrap', domain, file],
  };
}

export function managerFor(host: ServiceHost): Manager {
  return host.platform === 'darwin' ? launchd(host) : systemd(host);
}
