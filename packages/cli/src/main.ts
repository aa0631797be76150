#!/usr/bin/env node
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { isPipcacheError } from '@pipcache/shared';
import { print } from './output.js';
import * as startCmd from './commands/start.js';
import * as envCmd from './commands/env.js';
import { stop } from './commands/stop.js';
import { status } from './commands/status.js';
import { ls } from './commands/ls.js';
import { logs } from './commands/logs.js';
import { offline } from './commands/offline.js';
import * as exportCmd from './commands/export.js';
import { importCmd } from './commands/import.js';
import { verify } from './commands/verify.js';
import * as pinCmd from './commands/pin.js';
import { doctor } from './commands/doctor.js';
import * as serviceCmd from './commands/service.js';
import { gc } from './commands/gc.js';

type Outcome = { result: unknown; text: string };

/** Runs a command and renders its result; errors are rendered by `fail`. */
function emit(json: boolean | undefined, run: () => Promise<Outcome>): Promise<void> {
  return run().then(({ result, text }) => {
    if (json || text) print(result, Boolean(json), () => text);
  });
}

const jsonOpt = (y: Argv) => y.option('json', { type: 'boolean', default: false, describe: 'print JSON' });

export function buildCli(argv: string[]): Argv {
  return yargs(argv)
    .scriptName('pipcache')
    .usage('$0 <command>\n\nA caching proxy for pip: every index page and archive pip sees is kept on disk and served again.')
    .command('start', 'start the daemon (one per PIPCACHE_HOME)', startCmd.builder, (a) => emit(a.json, () => startCmd.start(a)))
    .command('stop', 'stop the daemon', (y) => y, () => emit(false, stop))
    .command('status', 'show the daemon state and counters', jsonOpt, (a) => emit(a.json, status))
    .command('env', 'print the shell lines that point pip (and uv) at the daemon, whatever the shell already sets', envCmd.builder, (a) =>
      emit(a.json, () => envCmd.env(a)),
    )
    .command(
      'doctor',
      'prove that pip goes through the cache: check its settings, then send one real pip request',
      (y) => jsonOpt(y).option('python', { type: 'string', default: 'python3', describe: 'the interpreter whose pip is checked' }),
      (a) => emit(a.json, () => doctor({ python: a.python })),
    )
    .command(
      'ls [project]',
      'list what is cached',
      (y) => jsonOpt(y).positional('project', { type: 'string', describe: 'one project: its files' }),
      (a) => emit(a.json, () => ls(a.project !== undefined ? { project: a.project } : {})),
    )
    .command(
      'logs',
      'print the request log readably',
      (y) => y.option('follow', { alias: 'f', type: 'boolean', default: false, describe: 'keep printing new lines' }),
      (a) => logs({ follow: a.follow }),
    )
    .command(
      'offline <state>',
      'switch offline mode: on (no upstream traffic at all), team (the team store only, no index), off',
      (y) => jsonOpt(y).positional('state', { choices: ['on', 'team', 'off', 'status'] as const, demandOption: true }),
      (a) => emit(a.json, () => offline({ state: a.state })),
    )
    .command(
      'export <dir> [specs..]',
      'write a find-links directory for a project (pip install --no-index --find-links DIR)',
      exportCmd.builder,
      (a) => emit(a.json, () => exportCmd.exportCmd(a)),
    )
    .command(
      'import <paths..>',
      'index existing wheels and sdists (a packages/ directory, a wheel cache) into the cache',
      (y) => jsonOpt(y).positional('paths', { type: 'string', array: true, demandOption: true }),
      (a) => emit(a.json, () => importCmd({ paths: a.paths as string[] })),
    )
    .command(
      'pin [items..]',
      'pin what a project needs (-r FILE, pylock.toml, SPEC): resolved like an export, fetched when missing, never evicted',
      pinCmd.builder,
      (a) => emit(a.json, () => pinCmd.pin(a)),
    )
    .command('pins', 'list the pin sets (exports and pipcache pin)', jsonOpt, (a) => emit(a.json, pinCmd.pins))
    .command(
      'unpin <name>',
      'release a pin set: an export directory or a name that `pipcache pins` lists',
      (y) => jsonOpt(y).positional('name', { type: 'string', demandOption: true }),
      (a) => emit(a.json, () => pinCmd.unpin({ name: a.name })),
    )
    .command('verify', 're-hash every cached file; damaged ones are removed and fetched again when next needed', jsonOpt, (a) =>
      emit(a.json, () => verify({ json: a.json })),
    )
    .command('service <action>', 'run the daemon as a service: a systemd user unit (Linux) or a launchd agent (macOS)', serviceCmd.builder, (a) =>
      emit(a.json, () => serviceCmd.service(a)),
    )
    .command('gc', 'remove blobs no record holds and temp files left by a crash; print what was freed', jsonOpt, (a) => emit(a.json, gc))
    .demandCommand(1, 'name a command (see --help)')
    .strict()
    .help()
    .alias('h', 'help')
    .version('0.1.0')
    .fail((msg, err) => {
      if (err) throw err;
      process.stderr.write(`pipcache: ${msg}\n`);
      process.exit(2);
    });
}

buildCli(hideBin(process.argv))
  .parseAsync()
  .catch((err: unknown) => {
    if (isPipcacheError(err)) {
      process.stderr.write(`pipcache: ${err.message}${err.hint ? ` (${err.hint})` : ''}\n`);
      process.exit(err.code === 'E_USAGE' ? 2 : err.exitCode || 1);
    }
    process.stderr.write(`pipcache: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
