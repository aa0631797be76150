import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isPipcacheError } from '@pipcache/shared';
import { shellLine, type CommandResult, type ServiceHost } from './host.js';
import { installService, serviceStatus, uninstallService } from './service.js';
import { carriedEnv, launchdPlist, systemdUnit, type ServiceSpec } from './units.js';

const spec: ServiceSpec = {
  node: '/opt/node 20/bin/node',
  cli: '/srv/pipcache/dist/main.js',
  env: { PIPCACHE_HOME: '/home/u/100% "cache"' },
  outFile: '/home/u/cache/logs/daemon.out',
};

const ok = (stdout = ''): CommandResult => ({ code: 0, stdout, stderr: '', missing: false });
const failed = (stderr: string): CommandResult => ({ code: 1, stdout: '', stderr, missing: false });
const missing: CommandResult = { code: null, stdout: '', stderr: '', missing: true };

/** A machine with a scripted service manager: answers by command line, records every call. */
function fakeHost(platform: 'linux' | 'darwin', answers: Record<string, CommandResult> = {}): ServiceHost & { calls: string[] } {
  const calls: string[] = [];
  return {
    platform,
    homeDir: mkdtempSync(join(tmpdir(), 'pipcache-service-')),
    env: {},
    uid: 501,
    calls,
    runCommand(cmd, args) {
      const line = [cmd, ...args].join(' ');
      calls.push(line);
      const key = Object.keys(answers).find((k) => line.startsWith(k));
      return key ? (answers[key] as CommandResult) : ok();
    },
  };
}

describe('the service files', () => {
  it('quote the systemd command line and environment: spaces, quotes, % and $', () => {
    const unit = systemdUnit({ ...spec, cli: '/srv/$HOME/main.js' });
    expect(unit).toContain('ExecStart="/opt/node 20/bin/node" --max-semi-space-size=2 "/srv/$$HOME/main.js" start --foreground\n');
    expect(unit).toContain('Environment="PIPCACHE_HOME=/home/u/100%% \\"cache\\""\n');
    expect(unit).toContain('Restart=on-failure\n');
    expect(unit).toContain('StandardOutput=journal\nStandardError=journal\n');
    expect(unit).toContain('[Install]\nWantedBy=default.target\n');
  });

  it('refuse a value with a line break, which would end the line early', () => {
    expect(() => systemdUnit({ ...spec, env: { PIPCACHE_HOME: '/a\nExecStartPre=/bin/evil' } })).toThrow(/line break/);
    expect(() => launchdPlist({ ...spec, cli: '/a\n' })).toThrow(/line break/);
  });

  it('escape the launchd plist as XML and keep it alive only after a failure', () => {
    const plist = launchdPlist({ ...spec, cli: '/srv/a&b<c>/main.js' });
    expect(plist).toContain('<string>/srv/a&amp;b&lt;c&gt;/main.js</string>');
    expect(plist).toContain('<string>/home/u/100% &quot;cache&quot;</string>');
    expect(plist).toMatch(/<key>KeepAlive<\/key>\s*<dict>\s*<key>SuccessfulExit<\/key>\s*<false\/>/);
    expect(plist).toMatch(/<key>RunAtLoad<\/key>\s*<true\/>/);
  });

  it('carry only the home and the extra CA from the installing shell', () => {
    expect(carriedEnv({ PIPCACHE_HOME: '/h', NODE_EXTRA_CA_CERTS: '/ca.pem', HTTPS_PROXY: 'http://127.0.0.1:3143', PIPCACHE_PORT: '' })).toEqual({
      PIPCACHE_HOME: '/h',
      NODE_EXTRA_CA_CERTS: '/ca.pem',
    });
  });

  it('print commands that paste into a shell', () => {
    expect(shellLine(['launchctl', 'bootstrap', 'gui/501', "/Users/o'neil/My Agents/x.plist"])).toBe(
      `launchctl bootstrap gui/501 '/Users/o'\\''neil/My Agents/x.plist'`,
    );
  });
});

describe('systemd', () => {
  it('writes, verifies, reloads and enables --now', () => {
    const host = fakeHost('linux');
    const r = installService(host, spec, { print: false, runningPid: null });
    expect(r.file).toBe(join(host.homeDir, '.config/systemd/user/pipcache.service'));
    expect(readFileSync(r.file, 'utf8')).toBe(systemdUnit(spec));
    expect(r).toMatchObject({ written: true, loaded: true, started: true, manual: null, verification: { ok: true } });
    expect(host.calls).toEqual([
      `systemd-analyze --user verify ${r.file}`,
      'systemctl --user show-environment',
      'systemctl --user daemon-reload',
      'systemctl --user enable --now pipcache.service',
    ]);
  });

  it('follows XDG_CONFIG_HOME, and --print writes nothing and runs nothing', () => {
    const host = fakeHost('linux');
    host.env = { XDG_CONFIG_HOME: join(host.homeDir, 'cfg') };
    const r = installService(host, spec, { print: true, runningPid: null });
    expect(r.file).toBe(join(host.homeDir, 'cfg/systemd/user/pipcache.service'));
    expect(r.content).toBe(systemdUnit(spec));
    expect(existsSync(r.file)).toBe(false);
    expect(host.calls).toEqual([]);
  });

  it('restarts a running service whose unit changed', () => {
    const host = fakeHost('linux');
    installService(host, spec, { print: false, runningPid: null });
    host.calls.length = 0;
    installService(host, { ...spec, node: '/usr/bin/node' }, { print: false, runningPid: null });
    expect(host.calls.at(-1)).toBe('systemctl --user try-restart pipcache.service');
    host.calls.length = 0;
    const same = installService(host, { ...spec, node: '/usr/bin/node' }, { print: false, runningPid: null });
    expect(same.written).toBe(false);
    expect(host.calls).not.toContain('systemctl --user try-restart pipcache.service');
  });

  it('falls back to the system manager to verify when there is no user session', () => {
    const host = fakeHost('linux', { 'systemd-analyze --user': failed('Failed to initialize manager: No such device or address') });
    const r = installService(host, spec, { print: false, runningPid: null });
    expect(r.verification).toEqual({ tool: 'systemd-analyze verify', ok: true, problems: [] });
  });

  it('removes a unit the verifier complains about, even with exit 0, and says what it said', () => {
    const host = fakeHost('linux', { 'systemd-analyze': ok('/x/pipcache.service:7: Unknown key name "Foo" in section "Service", ignoring.') });
    let err: unknown;
    try {
      installService(host, spec, { print: false, runningPid: null });
    } catch (e) {
      err = e;
    }
    expect(isPipcacheError(err, 'E_SERVICE')).toBe(true);
    expect((err as Error).message).toContain('Unknown key name');
    expect(existsSync(join(host.homeDir, '.config/systemd/user/pipcache.service'))).toBe(false);
    expect(host.calls.some((c) => c.startsWith('systemctl'))).toBe(false);
  });

  it('without a user bus: keeps the unit, says why and prints the commands', () => {
    const host = fakeHost('linux', { 'systemctl --user show-environment': failed('Failed to connect to bus: No medium found') });
    const r = installService(host, spec, { print: false, runningPid: null });
    expect(r).toMatchObject({ written: true, loaded: false, started: false });
    expect(r.manual?.reason).toContain('Failed to connect to bus: No medium found');
    expect(r.manual?.commands).toEqual([
      ['systemctl', '--user', 'daemon-reload'],
      ['systemctl', '--user', 'enable', '--now', 'pipcache.service'],
    ]);
  });

  it('without systemd-analyze: installs unchecked', () => {
    const host = fakeHost('linux', { 'systemd-analyze': missing });
    expect(installService(host, spec, { print: false, runningPid: null }).verification).toBeNull();
  });

  it('enables but does not start over a daemon started by hand, and says how to hand over', () => {
    const host = fakeHost('linux');
    const r = installService(host, spec, { print: false, runningPid: 4242 });
    expect(host.calls).toContain('systemctl --user enable pipcache.service');
    expect(r).toMatchObject({ loaded: true, started: false });
    expect(r.manual).toEqual({
      reason: 'a daemon started by hand runs on this home (pid 4242)',
      commands: [['pipcache', 'stop'], ['systemctl', '--user', 'start', 'pipcache.service']],
    });
  });

  it('uninstalls: disable --now, remove, reload; without a bus it removes the enable link too', () => {
    const host = fakeHost('linux');
    const { file } = installService(host, spec, { print: false, runningPid: null });
    host.calls.length = 0;
    expect(uninstallService(host)).toMatchObject({ removed: true, unloaded: true, manual: null });
    expect(host.calls.slice(1)).toEqual(['systemctl --user disable --now pipcache.service', 'systemctl --user daemon-reload']);
    expect(existsSync(file)).toBe(false);
    expect(uninstallService(host)).toMatchObject({ removed: false });

    const offline = fakeHost('linux', { 'systemctl --user show-environment': failed('Failed to connect to bus: No medium found') });
    const placed = installService(offline, spec, { print: false, runningPid: null }).file;
    const link = join(dirname(placed), 'default.target.wants', 'pipcache.service');
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(placed, link);
    const r = uninstallService(offline);
    expect(r).toMatchObject({ removed: true, unloaded: false });
    expect(existsSync(placed) || existsSync(link)).toBe(false);
    expect(r.manual?.commands[0]).toEqual(['systemctl', '--user', 'stop', 'pipcache.service']);
  });

  it('status: installed, current, enabled, active', () => {
    const host = fakeHost('linux', { 'systemctl --user is-enabled': ok('enabled\n'), 'systemctl --user is-active': failed('') });
    expect(serviceStatus(host, spec)).toMatchObject({ installed: false, current: false });
    installService(host, spec, { print: false, runningPid: null });
    expect(serviceStatus(host, spec)).toMatchObject({ installed: true, current: true, state: { enabled: 'enabled' }, unknownBecause: null });
    writeFileSync(join(host.homeDir, '.config/systemd/user/pipcache.service'), systemdUnit({ ...spec, node: '/old/node' }));
    expect(serviceStatus(host, spec).current).toBe(false);
  });
});

describe('launchd', () => {
  it('writes the agent, lints it and bootstraps it into the login domain', () => {
    const host = fakeHost('darwin', { 'launchctl print gui/501/local.pipcache': failed('Could not find service') });
    const r = installService(host, spec, { print: false, runningPid: null });
    expect(r.file).toBe(join(host.homeDir, 'Library/LaunchAgents/local.pipcache.plist'));
    expect(readFileSync(r.file, 'utf8')).toBe(launchdPlist(spec));
    expect(host.calls).toEqual([
      `plutil -lint ${r.file}`,
      'launchctl print gui/501',
      'launchctl print gui/501/local.pipcache',
      `launchctl bootstrap gui/501 ${r.file}`,
    ]);
  });

  it('boots a loaded agent out first so that a changed plist is read', () => {
    const host = fakeHost('darwin');
    installService(host, spec, { print: false, runningPid: null });
    expect(host.calls).toContain('launchctl bootout gui/501/local.pipcache');
  });

  it('without launchctl (not macOS): writes the agent and prints the bootstrap command', () => {
    const host = fakeHost('darwin', { launchctl: missing, plutil: missing });
    const r = installService(host, spec, { print: false, runningPid: null });
    expect(r.manual).toEqual({ reason: 'launchctl is not installed (not macOS)', commands: [['launchctl', 'bootstrap', 'gui/501', r.file]] });
    expect(r.verification).toBeNull();
  });

  it('status reads loaded and running from launchctl print', () => {
    const host = fakeHost('darwin', { 'launchctl print gui/501/local.pipcache': ok('local.pipcache = {\n\tstate = running\n}') });
    expect(serviceStatus(host, spec).state).toEqual({ enabled: 'loaded', active: 'active' });
  });
});
