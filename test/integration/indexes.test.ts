import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExportResult } from '@pipcache/shared';
import { httpsGet } from '../fixtures/https-get.js';
import { startPathIndex, type PathIndexServer } from '../fixtures/path-index.js';
import type { BuiltFile } from '../fixtures/packages.js';
import type { TestDaemon } from '../helpers/daemon.js';
import { createWorld, type World } from '../helpers/world.js';

// pip with --extra-index-url through the proxy, and index mode's
// /<name>/simple/: a PyTorch-style index serving pages and files under
// /whl/<variant>/ on one host (two variants, so two indexes on one host),
// and a private index that answers 401 unless the daemon adds the
// credentials it takes from an environment variable.

const TORCH_HOST = 'torch.example';
const PRIVATE_HOST = 'private.example';
const USER_PASS = 'alice:s3cret-Pa55';
const SECRET_FORMS = [USER_PASS, 's3cret-Pa55', Buffer.from(USER_PASS).toString('base64')];
/** Several real pip installs in one test: bounded, with room for a loaded machine. */
const INSTALLS_MS = 300_000;

let world: World;
let torch: PathIndexServer;
let priv: PathIndexServer;
let daemon: TestDaemon;

const file = (project: string, version: string): BuiltFile => world.file(project, version);

async function storedFiles(project: string): Promise<string[]> {
  const r = await daemon.cli(['ls', project, '--json']);
  expect(r.code, r.stderr).toBe(0);
  const ls = JSON.parse(r.stdout) as { files?: { filename: string; stored: boolean }[] };
  return (ls.files ?? []).filter((f) => f.stored).map((f) => f.filename);
}

/** Every file under `dir`, recursively. */
async function allFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await allFiles(path)));
    else if (e.isFile()) out.push(path);
  }
  return out;
}

beforeAll(async () => {
  world = await createWorld(
    'indexes',
    [
      { name: 'appx', version: '1.0', requires: ['secretlib', 'torchy'] },
      { name: 'secretlib', version: '1.0' },
      { name: 'torchy', version: '2.1.0' },
      { name: 'torchy', version: '2.0.0' },
    ],
    { serve: (f) => f.project === 'appx' },
  );
  torch = await startPathIndex(world.ca, TORCH_HOST, [
    { prefix: '/whl/cu121', files: [file('torchy', '2.1.0')] },
    { prefix: '/whl/cpu', files: [file('torchy', '2.0.0')] },
  ]);
  priv = await startPathIndex(world.ca, PRIVATE_HOST, [
    { prefix: '/simple', filesPrefix: '/packages', files: [file('secretlib', '1.0')], auth: USER_PASS, formats: 'both' },
  ]);
  const home = join(world.dir, 'home-indexes');
  await mkdir(home, { recursive: true });
  await writeFile(
    join(home, 'config.json'),
    JSON.stringify({
      indexes: [
        { name: 'torch', url: `https://${TORCH_HOST}/whl/cu121` },
        { name: 'torch-cpu', url: `https://${TORCH_HOST}/whl/cpu` },
        { name: 'private', url: `https://${PRIVATE_HOST}/simple/`, credentials: { env: 'PRIVATE_INDEX_AUTH' } },
      ],
    }),
  );
  daemon = await world.startDaemon({ home, resolve: `${torch.resolve},${priv.resolve}`, extraEnv: { PRIVATE_INDEX_AUTH: USER_PASS } });
}, 300_000);

afterAll(async () => {
  await torch?.close();
  await priv?.close();
  await world?.close();
});

describe('more indexes', () => {
  it('the private index refuses requests without credentials', async () => {
    const r = await httpsGet({ port: priv.port, host: PRIVATE_HOST, path: '/simple/secretlib/', ca: world.ca.certPem });
    expect(r.status).toBe(401);
    priv.requests.length = 0;
  });

  it('index mode never passes the client\'s Authorization (meant for the daemon) to an index; the index gets its own', async () => {
    const base = daemon.address.replace(/\/$/, '');
    const pageRes = await fetch(`${base}/private/simple/secretlib/`, { headers: { accept: 'application/vnd.pypi.simple.v1+json' }, signal: AbortSignal.timeout(30_000) });
    expect(pageRes.status).toBe(200);
    const listed = ((await pageRes.json()) as { files: { filename: string; url: string }[] }).files.find((f) => f.filename === file('secretlib', '1.0').filename);
    expect(listed).toBeDefined();
    const fileUrl = new URL(listed?.url ?? '', `${base}/private/simple/secretlib/`).href;
    priv.requests.length = 0;
    // A HEAD on a file not stored yet is passed through to the index as it is, but for the credentials.
    const head = await fetch(fileUrl, { method: 'HEAD', headers: { authorization: `Basic ${Buffer.from('pipcache:the-daemon-token').toString('base64')}` }, signal: AbortSignal.timeout(30_000) });
    expect(head.status).toBe(200);
    expect(priv.requests.map((r) => [r.method, r.authorization])).toEqual([['HEAD', `Basic ${Buffer.from(USER_PASS).toString('base64')}`]]);
    expect(await storedFiles('secretlib')).toEqual([]);
  });

  it('pip with --extra-index-url through the proxy caches both indexes, the daemon adding the credentials', async () => {
    const args = ['install', '--no-cache-dir', '--extra-index-url', `https://${PRIVATE_HOST}/simple/`, '--extra-index-url', `https://${TORCH_HOST}/whl/cu121`, 'appx'];
    const cold = await (await world.venv()).pip(args, daemon.pipEnv);
    expect(cold.code, cold.stderr + cold.stdout).toBe(0);
    expect(await storedFiles('secretlib')).toEqual([file('secretlib', '1.0').filename]);
    expect(await storedFiles('torchy')).toEqual([file('torchy', '2.1.0').filename]);
    // Every request the private index got carried the credentials (pip had none to send), and it never said 401.
    expect(priv.requests.length).toBeGreaterThan(0);
    expect(priv.requests.filter((r) => r.authorization !== `Basic ${Buffer.from(USER_PASS).toString('base64')}`)).toEqual([]);
    expect(priv.requests.filter((r) => r.status === 401)).toEqual([]);
    // Credentials go to their own index only.
    expect(torch.requests.filter((r) => r.authorization !== undefined)).toEqual([]);
    expect(torch.requests.map((r) => r.path)).toContain(`/whl/cu121/${file('torchy', '2.1.0').filename}`);

    const fetched = (s: PathIndexServer): number => s.requests.filter((r) => !r.path.endsWith('/')).length;
    const [torchFiles, privFiles] = [fetched(torch), fetched(priv)];
    const warm = await (await world.venv()).pip(args, daemon.pipEnv);
    expect(warm.code, warm.stderr + warm.stdout).toBe(0);
    expect([fetched(torch), fetched(priv)]).toEqual([torchFiles, privFiles]);
    const lines = (await daemon.logs()).filter((l) => l.msg === 'request' && l.host === TORCH_HOST && String(l.path).endsWith('.whl'));
    // The cold request missed, or found the wheel already fetched ahead when pip read its metadata:
    // either way the wheel crossed from its index once.
    expect(lines).toHaveLength(2);
    expect(['miss', 'hit']).toContain(lines[0]?.cache);
    expect(lines[1]?.cache).toBe('hit');
    expect(torch.requests.filter((r) => r.path === `/whl/cu121/${file('torchy', '2.1.0').filename}`)).toHaveLength(1);
  }, INSTALLS_MS);

  it('index mode serves each index at /<name>/simple/, two paths on one host kept apart', async () => {
    const base = daemon.address.replace(/\/$/, '');
    const page = async (path: string): Promise<string> => {
      const r = await fetch(`${base}${path}`, { headers: { accept: 'text/html' }, signal: AbortSignal.timeout(30_000) });
      expect(r.status, path).toBe(200);
      return r.text();
    };
    const cu121 = await page('/torch/simple/torchy/');
    const cpu = await page('/torch-cpu/simple/torchy/');
    expect(cu121).toContain(file('torchy', '2.1.0').filename);
    expect(cu121).not.toContain(file('torchy', '2.0.0').filename);
    expect(cpu).toContain(file('torchy', '2.0.0').filename);
    expect(cpu).not.toContain(file('torchy', '2.1.0').filename);
    expect((await fetch(`${base}/torch/simple/Torchy`, { redirect: 'manual', signal: AbortSignal.timeout(30_000) })).headers.get('location')).toBe('/torch/simple/torchy/');

    const v = await world.venv();
    const r = await v.pip(
      [
        'install',
        '--no-cache-dir',
        '--index-url',
        `${base}/simple/`,
        '--extra-index-url',
        `${base}/private/simple/`,
        '--extra-index-url',
        `${base}/torch-cpu/simple/`,
        'appx',
        'torchy==2.0.0',
      ],
      {},
    );
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(await storedFiles('torchy')).toEqual([file('torchy', '2.0.0').filename, file('torchy', '2.1.0').filename].sort());
  }, INSTALLS_MS);

  it('export says which index each file came from', async () => {
    const out = join(world.dir, 'exported');
    const r = await daemon.cli(['export', out, 'appx', '--no-proof', '--json'], 120_000);
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout) as ExportResult;
    expect(Object.fromEntries(res.written.map((f) => [f.filename, f.index]))).toEqual({
      [file('appx', '1.0').filename]: 'pypi',
      [file('secretlib', '1.0').filename]: 'private',
      [file('torchy', '2.1.0').filename]: 'torch',
    });
    const text = await daemon.cli(['export', join(world.dir, 'exported-text'), 'appx', '--no-proof'], 120_000);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/by index: .*pypi 1/);
    expect(text.stdout).toMatch(/by index: .*private 1/);
    expect(text.stdout).toMatch(/by index: .*torch 1/);
  }, 300_000);

  it('credentials appear nowhere under the home: not in the catalog, the log or the status', async () => {
    const status = await daemon.cli(['status', '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout).interceptHosts).toEqual(expect.arrayContaining([TORCH_HOST, PRIVATE_HOST]));
    const leaks: string[] = [];
    for (const path of await allFiles(daemon.home)) {
      const bytes = await readFile(path).catch(() => Buffer.alloc(0));
      for (const secret of SECRET_FORMS) if (bytes.includes(secret)) leaks.push(`${path}: ${secret}`);
    }
    for (const secret of SECRET_FORMS) if (status.stdout.includes(secret)) leaks.push(`status: ${secret}`);
    expect(leaks).toEqual([]);
  });
});
