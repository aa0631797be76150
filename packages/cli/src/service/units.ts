/**
 * The files a service manager reads to run the daemon: a systemd user unit
 * and a launchd agent. Pure text; writing and enabling them is manager.ts.
 */
import { PipcacheError } from '@pipcache/shared';
import { DAEMON_NODE_FLAGS } from '../daemon-flags.js';

export const SYSTEMD_UNIT_NAME = 'pipcache.service';
/** `local.` is launchd's convention for agents that belong to no vendor domain. */
export const LAUNCHD_LABEL = 'local.pipcache';

/** Variables the service carries from the shell that installed it: the home it serves and a corporate CA for upstream. */
export const CARRIED_ENV = ['PIPCACHE_HOME', 'NODE_EXTRA_CA_CERTS'] as const;

export interface ServiceSpec {
  /** Absolute path of the node binary. */
  node: string;
  /** Absolute path of the CLI's main.js. */
  cli: string;
  env: Record<string, string>;
  /** Where launchd sends stdout/stderr (it has no journal). */
  outFile: string;
}

/** The daemon's command line: the CLI in the foreground, so the manager sees its exit status and signals it directly. */
export function commandLine(spec: ServiceSpec): string[] {
  return [spec.node, ...DAEMON_NODE_FLAGS, spec.cli, 'start', '--foreground'];
}

/** Picks the carried variables out of an environment. */
export function carriedEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of CARRIED_ENV) {
    const value = env[name];
    if (value) out[name] = value;
  }
  return out;
}

function oneLine(value: string): string {
  if (/[\n\r\0]/.test(value)) throw new PipcacheError('E_USAGE', `a service file cannot hold a value with a line break or NUL: ${JSON.stringify(value)}`);
  return value;
}

/**
 * One systemd word, quoted: backslash and double quote escaped, `%` doubled
 * (specifiers) and, in command lines, `$` doubled (variable expansion).
 */
function systemdQuote(value: string, inCommand: boolean): string {
  let v = oneLine(value).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%');
  if (inCommand) v = v.replace(/\$/g, '$$$$');
  return `"${v}"`;
}

/**
 * The systemd user unit. stdout and stderr go to the journal (the daemon's
 * start line and its fatal errors); the request log still goes to the log
 * file under the home. Restarted on failure only: `pipcache stop` exits 0
 * and stays stopped.
 */
export function systemdUnit(spec: ServiceSpec): string {
  const env = Object.entries(spec.env).map(([k, v]) => `Environment=${systemdQuote(`${k}=${v}`, false)}`);
  return [
    '[Unit]',
    'Description=pipcache, a caching proxy for pip',
    '',
    '[Service]',
    'Type=simple',
    // Paths are quoted; the words of our own (flags, `start`) need no quoting.
    `ExecStart=${commandLine(spec)
      .map((w) => (/^[a-z0-9=-]+$/.test(w) ? w : systemdQuote(w, true)))
      .join(' ')}`,
    ...env,
    'Restart=on-failure',
    'RestartSec=5',
    // The daemon gives in-flight downloads 10 s on SIGTERM, then exits.
    'KillSignal=SIGTERM',
    'TimeoutStopSec=30',
    'StandardOutput=journal',
    'StandardError=journal',
    '',
    '[Install]',
    'WantedBy=default.target',
    '',
  ].join('\n');
}

function xml(value: string): string {
  return oneLine(value).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/**
 * The launchd agent. KeepAlive restarts it when it exits unsuccessfully
 * (the systemd unit's on-failure); RunAtLoad starts it at login.
 */
export function launchdPlist(spec: ServiceSpec): string {
  const env = Object.entries(spec.env);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    '<plist version="1.0">',
    '<dict>',
    '  <key>Label</key>',
    `  <string>${LAUNCHD_LABEL}</string>`,
    '  <key>ProgramArguments</key>',
    '  <array>',
    ...commandLine(spec).map((w) => `    <string>${xml(w)}</string>`),
    '  </array>',
    ...(env.length > 0
      ? ['  <key>EnvironmentVariables</key>', '  <dict>', ...env.flatMap(([k, v]) => [`    <key>${xml(k)}</key>`, `    <string>${xml(v)}</string>`]), '  </dict>']
      : []),
    '  <key>RunAtLoad</key>',
    '  <true/>',
    '  <key>KeepAlive</key>',
    '  <dict>',
    '    <key>SuccessfulExit</key>',
    '    <false/>',
    '  </dict>',
    '  <key>ThrottleInterval</key>',
    '  <integer>5</integer>',
    '  <key>ProcessType</key>',
    '  <string>Background</string>',
    '  <key>StandardOutPath</key>',
    `  <string>${xml(spec.outFile)}</string>`,
    '  <key>StandardErrorPath</key>',
    `  <string>${xml(spec.outFile)}</string>`,
    '</dict>',
    '</plist>',
    '',
  ].join('\n');
}
