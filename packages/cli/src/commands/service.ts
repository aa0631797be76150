import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PipcacheError } from '@pipcache/shared';
import type { Argv } from 'yargs';
import { call, isRunning } from '../client.js';
import { paths } from '../context.js';
import { runCommand, shellLine, type ServiceHost, type ServicePlatform } from '../service/host.js';
import { installService, serviceStatus, uninstallService, type Manual } from '../service/service.js';
import { carriedEnv, commandLine, type ServiceSpec } from '../service/units.js';

export const ACTIONS = ['install', 'uninstall', 'status'] as const;

export interface ServiceArgs {
  action: (typeof ACTIONS)[number];
  print?: boolean;
  platform?: string;
  json?: boolean;
}

export function builder(y: Argv): Argv<ServiceArgs> {
  return y
    .positional('action', { choices: ACTIONS, demandOption: true })
    .option('print', { type: 'boolean', default: false, describe: 'install: show the unit (or agent) without writing it' })
    .option('platform', {
      type: 'string',
      choices: ['linux', 'darwin'],
      describe: 'which service manager to write for (default: this machine: systemd on Linux, launchd on macOS)',
    })
    .option('json', { type: 'boolean', default: false, describe: 'print JSON' }) as unknown as Argv<ServiceArgs>;
}

function host(platform: string | undefined): ServiceHost {
  const p = platform ?? process.platform;
  if (p !== 'linux' && p !== 'darwin') {
    throw new PipcacheError('E_USAGE', `pipcache service knows systemd (Linux) and launchd (macOS), not ${p}`, {
      hint: 'run `pipcache start --foreground` under your service manager',
    });
  }
  return { platform: p as ServicePlatform, homeDir: homedir(), env: process.env, uid: process.getuid?.() ?? 0, runCommand };
}

/** The service runs this very CLI with this very node, on the home the caller uses now. */
function spec(): ServiceSpec {
  return {
    node: process.execPath,
    cli: fileURLToPath(new URL('../main.js', import.meta.url)),
    env: carriedEnv(process.env),
    outFile: join(dirname(paths().logFile), 'daemon.out'),
  };
}

async function runningPid(): Promise<number | null> {
  const socket = paths().socket;
  if (!(await isRunning(socket))) return null;
  return (await call<{ pid: number }>(socket, 'hello')).pid;
}

function manualText(m: Manual | null): string[] {
  if (!m) return [];
  return [`${m.reason}; run:`, ...m.commands.map((c) => `  ${shellLine(c)}`)];
}

export async function service(args: ServiceArgs): Promise<{ result: unknown; text: string }> {
  const h = host(args.platform);
  const s = spec();
  if (args.action === 'install') {
    const r = installService(h, s, { print: Boolean(args.print), runningPid: args.print ? null : await runningPid() });
    if (args.print) return { result: r, text: r.content.trimEnd() };
    const lines = [
      `${r.written ? 'wrote' : 'unchanged'} ${r.file}`,
      `runs: ${shellLine(commandLine(s))}`,
      r.verification ? `checked with ${r.verification.tool}: ok` : `not checked: ${r.manager === 'systemd' ? 'systemd-analyze' : 'plutil'} is not installed`,
    ];
    if (r.loaded) lines.push(r.started ? `enabled and started with ${r.manager}` : `enabled with ${r.manager}, not started`);
    else lines.push(`not enabled: ${manualText(r.manual).join('\n')}`);
    if (r.loaded) lines.push(...manualText(r.manual));
    if (r.manager === 'systemd') lines.push('its output goes to the journal: journalctl --user -u pipcache');
    return { result: r, text: lines.join('\n') };
  }
  if (args.action === 'uninstall') {
    const r = uninstallService(h);
    const lines = r.removed ? [`removed ${r.file}`, ...(r.unloaded ? [`stopped and disabled with ${r.manager}`] : manualText(r.manual))] : [`not installed (no ${r.file})`];
    return { result: r, text: lines.join('\n') };
  }
  const r = serviceStatus(h, s);
  const pid = await runningPid();
  const result = { ...r, daemon: pid === null ? { running: false } : { running: true, pid } };
  const lines = [
    `${r.manager} ${r.file}`,
    `installed  ${r.installed ? (r.current ? 'yes' : 'yes, but it differs from what install writes now (another node, CLI or home): run pipcache service install') : 'no'}`,
    `enabled    ${r.state.enabled}`,
    `active     ${r.state.active}`,
    ...(r.unknownBecause ? [`           (${r.unknownBecause})`] : []),
    `daemon     ${pid === null ? 'not running' : `running (pid ${pid})`}`,
  ];
  return { result, text: lines.join('\n') };
}
