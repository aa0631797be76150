#!/usr/bin/env node
// One command for a fresh clone: dependencies, build, start the daemon, and
// say what to eval. Needs only node and npm.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const step = (what, cmd, args) => {
  process.stderr.write(`==> ${what}\n`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(`setup failed at: ${what}\n`);
    process.exit(r.status ?? 1);
  }
};

step('installing dependencies', process.execPath, ['scripts/pnpm.mjs', 'install', '--frozen-lockfile']);
step('building', process.execPath, ['node_modules/typescript/bin/tsc', '-b']);
step('starting the daemon', process.execPath, ['packages/cli/dist/main.js', 'start']);
process.stdout.write(`\nNow point pip at it (add to your shell profile to keep it):\n  eval "$(${join(root, 'bin', 'pipcache')} env)"\n`);
