import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/daemon.js';
import { run, type RunResult } from '../helpers/proc.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The service files written by the real CLI, checked by the real tools this
 * machine has, and the unit's own command line run as a service manager
 * would run it. A user bus is made unreachable on purpose (a container has
 * none; a developer's machine must not get a unit enabled by a test), so
 * enabling is covered by the unit tests with a scripted systemctl.
 */
let root: string;
let home: string;
let cacheHome: string;
let env: NodeJS.ProcessEnv;
const children: ChildProcess[] = [];

const cli = (args: string[], extra: Record<string, string> = {}): Promise<RunResult> =>
  run(process.execPath, [CLI, ...args], { env: { ...env, ...extra }, timeoutMs: 60_000 });

const has = (tool: string): boolean => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

/** systemd's word splitting for ExecStart and Environment: double quotes, backslash escapes, %% and $$. */
function systemdWords(line: string): string[] {
  const words: string[] = [];
  for (const m of line.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)) {
    const raw = m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] as string);
    words.push(raw.replace(/%%/g, '%').replace(/\$\$/g, '$'));
  }
  return words;
}

function unitValues(unit: string, key: string): string[] {
  return unit
    .split('\n')
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));
}

/** Runs the unit's ExecStart with the unit's environment only, the way systemd would. */
function runUnit(unit: string, extra: Record<string, string> = {}): { child: ChildProcess; out: () => string; exited: Promise<number | null> } {
  const [cmd, ...args] = systemdWords(unitValues(unit, 'ExecStart')[0] ?? '');
  const unitEnv = Object.fromEntries(unitValues(unit, 'Environment').map((v) => (systemdWords(v)[0] ?? '').split(/=(.*)/s).slice(0, 2)));
  const child = spawn(cmd as string, args, { env: { PATH: process.env.PATH, HOME: home, ...unitEnv, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, out: () => out, exited };
}

async function within<T>(what: string, p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'pipcache-service-'));
  home = join(root, 'home');
  // A space, so that the unit's quoting is exercised by systemd's own parser.
  cacheHome = join(root, 'pip cache');
  await mkdir(home, { recursive: true });
  await mkdir(cacheHome, { recursive: true });
  await writeFile(join(cacheHome, 'config.json'), JSON.stringify({ port: 0 }));
  env = {
    PATH: process.env.PATH,
    HOME: home,
    PIPCACHE_HOME: cacheHome,
    // No user bus and no runtime directory: systemctl --user fails the way it does in a container.
    DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(root, 'no-bus')}`,
    XDG_RUNTIME_DIR: join(root, 'no-runtime'),
  };
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (root) await rm(root, { recursive: true, force: true });
});

describe('pipcache service on Linux (systemd user unit)', () => {
  let unit: string;
  const unitFile = (): string => join(home, '.config/systemd/user/pipcache.service');

  it('--print shows the unit and writes nothing', async () => {
    const r = await cli(['service', 'install', '--print']);
    expect(r.code, r.stderr).toBe(0);
    unit = r.stdout;
    expect(unit).toContain(`ExecStart="${process.execPath}" --max-semi-space-size=2 "${CLI}" start --foreground`);
    expect(unit).toContain(`Environment="PIPCACHE_HOME=${cacheHome}"`);
    expect(existsSync(unitFile())).toBe(false);
  });

  it('install writes it, checks it with systemd-analyze, and says why it cannot enable it here', async () => {
    expect(has('systemd-analyze'), 'systemd-analyze is needed to check the unit (Debian: apt-get install systemd)').toBe(true);
    const r = await cli(['service', 'install']);
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(unitFile(), 'utf8')).toBe(unit);
    expect(r.stdout).toContain(`wrote ${unitFile()}`);
    expect(r.stdout).toMatch(/checked with systemd-analyze (--user )?verify: ok/);
    expect(r.stdout).toMatch(/not enabled: systemctl (is not installed|--user cannot reach a user service manager \(.+\)); run:/);
    expect(r.stdout).toContain('  systemctl --user enable --now pipcache.service');
  });

  it('the unit passes systemd-analyze verify with no remark', async () => {
    const r = await run('systemd-analyze', ['verify', unitFile()], { env: { PATH: process.env.PATH }, timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(`${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes('pipcache.service'))).toEqual([]);
  });

  it("the unit's command runs the daemon in the foreground; a second one fails; SIGTERM stops it cleanly", async () => {
    const svc = runUnit(unit);
    await waitFor('the foreground daemon to announce itself', () => svc.out().includes('pipcache listening on http://127.0.0.1:'), 30_000);
    const st = JSON.parse((await cli(['status', '--json'])).stdout) as { pid: number; home: string };
    expect(st).toMatchObject({ pid: svc.child.pid, home: cacheHome });

    const status = await cli(['service', 'status', '--json']);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ installed: true, current: true, daemon: { running: true, pid: svc.child.pid } });

    // A service manager must see a start that did not happen as a failure.
    const second = runUnit(unit);
    expect(await within('the second foreground start to exit', second.exited, 30_000)).toBe(1);
    expect(second.out()).toContain('already runs on this home');

    svc.child.kill('SIGTERM');
    expect(await within('the daemon to stop on SIGTERM', svc.exited, 30_000)).toBe(0);
    expect(existsSync(join(cacheHome, 'daemon.sock'))).toBe(false);
  });

  it('a foreground start that cannot listen exits non-zero with the reason', async () => {
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    try {
      const port = (busy.address() as net.AddressInfo).port;
      const svc = runUnit(unit, { PIPCACHE_PORT: String(port) });
      expect(await within('the failing foreground start to exit', svc.exited, 30_000)).not.toBe(0);
      expect(svc.out()).toContain('address is in use');
    } finally {
      busy.close();
    }
  });

  it('uninstall removes it', async () => {
    const r = await cli(['service', 'uninstall']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`removed ${unitFile()}`);
    expect(existsSync(unitFile())).toBe(false);
    expect(JSON.parse((await cli(['service', 'status', '--json'])).stdout)).toMatchObject({ installed: false });
  });
});

describe('pipcache service for macOS (launchd agent), written here', () => {
  const plistFile = (): string => join(home, 'Library/LaunchAgents/local.pipcache.plist');

  it('writes a plist that a plist parser reads back as the agent, and prints the launchctl command', async () => {
    const r = await cli(['service', 'install', '--platform', 'darwin']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`  launchctl bootstrap gui/${process.getuid?.() ?? 0} ${plistFile()}`);
    // plutil exists only on macOS; Python's plistlib parses the same format strictly.
    const parsed = has('plutil')
      ? spawnSync('plutil', ['-convert', 'json', '-o', '-', plistFile()], { encoding: 'utf8' })
      : spawnSync('python3', ['-c', 'import json,plistlib,sys; print(json.dumps(plistlib.load(open(sys.argv[1],"rb"))))', plistFile()], { encoding: 'utf8' });
    expect(parsed.status, parsed.stderr).toBe(0);
    expect(JSON.parse(parsed.stdout)).toEqual({
      Label: 'local.pipcache',
      ProgramArguments: [process.execPath, '--max-semi-space-size=2', CLI, 'start', '--foreground'],
      EnvironmentVariables: { PIPCACHE_HOME: cacheHome },
      RunAtLoad: true,
      KeepAlive: { SuccessfulExit: false },
      ThrottleInterval: 5,
      ProcessType: 'Background',
      StandardOutPath: join(cacheHome, 'logs/daemon.out'),
      StandardErrorPath: join(cacheHome, 'logs/daemon.out'),
    });
  });

  it('uninstall removes it', async () => {
    const r = await cli(['service', 'uninstall', '--platform', 'darwin']);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(plistFile())).toBe(false);
  });
});
