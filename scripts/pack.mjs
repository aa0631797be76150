#!/usr/bin/env node
// Builds the CLI and packs it into a tarball that `npm install -g` turns into
// a working `pipcache` command on a machine with node and npm only.
//
// The workspace packages (@pipcache/shared, pep, daemon) are not published:
// they travel inside the tarball as bundled dependencies, copied from their
// built `dist/` into a staging directory's node_modules. Their third-party
// dependencies become plain dependencies of the tarball, pinned to the
// versions the workspace builds and tests with, so npm installs them for the
// target machine (lmdb picks its native build there). The CLI still finds
// the daemon with require.resolve('@pipcache/daemon'), exactly as in the
// workspace, because the bundled copy sits in the package's node_modules.
//
//   node scripts/pack.mjs [--out DIR] [--no-build]
// prints the tarball's path on stdout (default DIR: ./pack).
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const WORKSPACE = ['shared', 'pep', 'daemon'];

function fail(message) {
  process.stderr.write(`pack: ${message}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  const opts = { out: join(root, 'pack'), build: true };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--no-build') opts.build = false;
    else if (argv[i] === '--out' && argv[i + 1]) opts.out = resolve(argv[++i]);
    else fail(`unknown argument ${argv[i]} (use --out DIR, --no-build)`);
  }
  return opts;
}

const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'));

/** The version of `dep` that package `dir` resolves to in the workspace. */
function installedVersion(dir, dep) {
  const req = createRequire(join(dir, 'package.json'));
  // Some packages do not export their package.json; walk up from the entry.
  let at;
  try {
    at = dirname(req.resolve(`${dep}/package.json`));
  } catch {
    at = dirname(req.resolve(dep));
    while (!existsSync(join(at, 'package.json')) || readJson(join(at, 'package.json')).name !== dep) {
      const up = dirname(at);
      if (up === at) fail(`cannot find the package.json of ${dep} from ${dir}`);
      at = up;
    }
  }
  return readJson(join(at, 'package.json')).version;
}

/** Third-party runtime dependencies of a workspace package, pinned to what is installed. */
function thirdParty(dir, into) {
  for (const dep of Object.keys(readJson(join(dir, 'package.json')).dependencies ?? {})) {
    if (dep.startsWith('@pipcache/')) continue;
    const version = installedVersion(dir, dep);
    if (into[dep] && into[dep] !== version) fail(`${dep} is ${into[dep]} in one package and ${version} in another`);
    into[dep] = version;
  }
}

/** Copies the JavaScript of a built dist/ (no maps, no declarations: the package runs, it is not compiled against). */
function copyJs(from, to) {
  if (!existsSync(from)) fail(`${from} is missing: build first (npx tsc -b)`);
  cpSync(from, to, {
    recursive: true,
    filter: (src) => !/\.(d\.ts|map)$/.test(src) && !/\.test\.js$/.test(src),
  });
}

function run(what, cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (r.status !== 0) fail(`${what} failed (exit ${r.status ?? r.signal})`);
  return r.stdout;
}

const opts = parseArgs(process.argv.slice(2));
if (opts.build) run('the build', process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-b'], root);

const cliDir = join(root, 'packages/cli');
const cliManifest = readJson(join(cliDir, 'package.json'));
const deps = {};
thirdParty(cliDir, deps);
for (const name of WORKSPACE) thirdParty(join(root, 'packages', name), deps);

const stage = mkdtempSync(join(tmpdir(), 'pipcache-pack-'));
try {
  copyJs(join(cliDir, 'dist'), join(stage, 'dist'));
  for (const name of WORKSPACE) {
    const src = join(root, 'packages', name);
    const dst = join(stage, 'node_modules/@pipcache', name);
    copyJs(join(src, 'dist'), join(dst, 'dist'));
    const m = readJson(join(src, 'package.json'));
    // Only what resolution needs: the bundled copy's own dependencies are
    // declared once, at the top, where npm installs them.
    writeFileSync(join(dst, 'package.json'), JSON.stringify({ name: m.name, version: m.version, type: m.type, exports: m.exports }, null, 2) + '\n');
  }
  const rootManifest = readJson(join(root, 'package.json'));
  const manifest = {
    name: cliManifest.name,
    version: cliManifest.version,
    description: 'A caching proxy for pip: every index page and archive pip sees is kept on disk and served again.',
    type: 'module',
    bin: cliManifest.bin,
    engines: rootManifest.engines,
    files: ['dist'],
    dependencies: Object.fromEntries(
      [...Object.entries(deps), ...WORKSPACE.map((n) => [`@pipcache/${n}`, cliManifest.version])].sort(([a], [b]) => a.localeCompare(b)),
    ),
    bundleDependencies: WORKSPACE.map((n) => `@pipcache/${n}`),
  };
  writeFileSync(join(stage, 'package.json'), JSON.stringify(manifest, null, 2) + '\n');
  const readme = join(root, 'README.md');
  if (existsSync(readme)) cpSync(readme, join(stage, 'README.md'));

  mkdirSync(opts.out, { recursive: true });
  const wanted = `${manifest.name}-${manifest.version}.tgz`;
  rmSync(join(opts.out, wanted), { force: true });
  // --ignore-scripts: the staging directory has none, and a user's npmrc must not add any.
  const packed = JSON.parse(run('npm pack', 'npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', opts.out], stage));
  const file = join(opts.out, packed[0]?.filename ?? wanted);
  const bundled = packed[0]?.bundled ?? [];
  for (const name of manifest.bundleDependencies) if (!bundled.includes(name)) fail(`npm pack left out the bundled ${name}`);
  if (!readdirSync(opts.out).includes(wanted)) fail(`npm pack did not write ${wanted}`);
  process.stdout.write(`${file}\n`);
} finally {
  rmSync(stage, { recursive: true, force: true });
}
