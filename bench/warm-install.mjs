#!/usr/bin/env node
// Kept for the root `npm run bench` script (`node bench/warm-install.mjs`):
// runs only the warm-install benchmark. `node bench/run.mjs` runs all of them.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const run = join(dirname(fileURLToPath(import.meta.url)), 'run.mjs');
const r = spawnSync(process.execPath, [run, 'warm-install', ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
