#!/usr/bin/env node
// Runs the pinned pnpm without requiring a global install: a fresh machine has
// node and npm only. npx caches the download after the first run.
import { spawnSync } from 'node:child_process';

const PNPM = 'pnpm@9.15.9';
const args = process.argv.slice(2);
const result = spawnSync('npx', ['--yes', PNPM, ...args], { stdio: 'inherit' });
if (result.error) {
  console.error(`could not run ${PNPM} through npx: ${result.error.message}`);
  process.exit(1);
}
process.exit(result.status ?? 1);
