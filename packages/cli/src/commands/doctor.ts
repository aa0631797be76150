import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StatusResult } from '@pipcache/shared';
import { call } from '../client.js';
import { paths } from '../context.js';
import { configurationChecks, type Check, type PipFacts } from '../setup/doctor-checks.js';
import { readPipConfig } from '../setup/pip-config.js';
import { tokenFor } from './env.js';

export interface DoctorArgs {
  python?: string;
}

const PROBE_TIMEOUT_MS = 90_000;
const LOG_WAIT_MS = 3_000;

/** Runs `cmd` with the caller's own environment: doctor judges the setup the user really has. */
function runCommand(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string; error?: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr, error: err.message });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Python 2.7 and 3.x alike: the pip version, the interpreter version and sys.prefix (whose pip.conf pip reads). */
const FACTS_SCRIPT = 'import json, sys, pip; print(json.dumps({"pip": pip.__version__, "python": "%d.%d.%d" % tuple(sys.version_info[:3]), "prefix": sys.prefix}))';

async function pipFacts(python: string): Promise<PipFacts | string> {
  const r = await runCommand(python, ['-c', FACTS_SCRIPT], 30_000);
  if (r.code !== 0) return r.error ?? (r.stderr.trim().split('\n').at(-1) || `exit code ${r.code}`);
  try {
    return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as PipFacts;
  } catch {
    return `unexpected output: ${r.stdout.slice(0, 200)}`;
  }
}

async function logSize(file: string): Promise<number> {
  return stat(file).then((s) => s.size, () => 0);
}

async function logSince(file: string, from: number): Promise<string> {
  const handle = await open(file, 'r').catch(() => null);
  if (!handle) return '';
  try {
    const size = (await handle.stat()).size;
    const buf = Buffer.alloc(Math.max(0, size - from));
    await handle.read(buf, 0, buf.length, from);
    return buf.toString('utf8');
  } finally {
    await handle.close();
  }
}

/** A request line in the daemon's log whose path names the probe project. */
function probeLine(text: string, project: string): Record<string, unknown> | null {
  for (const line of text.split('\n')) {
    if (!line.includes(project)) continue;
    try {
      const rec = JSON.parse(line) as Record<string, unknown>;
      if (rec.msg === 'request' && typeof rec.path === 'string' && rec.path.includes(project)) return rec;
    } catch {
      /* a partly written line: read again on the next poll */
    }
  }
  return null;
}

/** The line of pip's output that says why it failed, when there is one. */
function pipReason(output: string): string {
  const lines = output.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.find((l) => /CERTIFICATE_VERIFY_FAILED|SSLError|ProxyError|Cannot connect to proxy|NewConnectionError|Max retries/i.test(l)) ?? lines.at(-1) ?? '';
}

/**
 * Makes pip ask the index for a project that exists nowhere, then looks for
 * that one path in the daemon's request log: only a request pip really sent
 * through the daemon puts it there.
 */
async function probe(python: string, logFile: string, configFile: string): Promise<Check[]> {
  const project = `pipcache-doctor-probe-${randomBytes(6).toString('hex')}`;
  const dest = await mkdtemp(join(tmpdir(), 'pipcache-doctor-'));
  const from = await logSize(logFile);
  try {
    const args = ['-m', 'pip', 'download', '--no-deps', '--no-cache-dir', '--disable-pip-version-check', '--retries', '0', '--timeout', '15', '--dest', dest, project];
    const r = await runCommand(python, args, PROBE_TIMEOUT_MS);
    const deadline = Date.now() + LOG_WAIT_MS;
    for (;;) {
      const seen = probeLine(await logSince(logFile, from), project);
      if (seen) {
        const reached: Check = { name: 'probe', ok: true, detail: `pip's request for ${String(seen.path)} reached the daemon (${String(seen.status ?? '')} ${String(seen.cache ?? '')})`.trim() };
        return [reached, upstreamCheck(seen, configFile)];
      }
      if (Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const why = r.error ?? pipReason(`${r.stdout}\n${r.stderr}`);
    return [{ name: 'probe', ok: false, detail: `pip's request for /simple/${project}/ never reached the daemon${why ? `: ${why}` : ''}`, fix: 'apply the fixes above, then run pipcache doctor again' }];
  } finally {
    await rm(dest, { recursive: true, force: true });
  }
}

/**
 * What the daemon met upstream for the probe: a project that exists nowhere
 * is a 404 when the index answers; an error code here means the daemon
 * itself cannot reach the index (a refused proxy login, a proxy or index it
 * cannot connect to), which no pip setting fixes.
 */
function upstreamCheck(line: Record<string, unknown>, configFile: string): Check {
  const code = typeof line.code === 'string' ? line.code : '';
  const reason = typeof line.reason === 'string' ? line.reason : '';
  if (code === 'E_UPSTREAM_PROXY_AUTH' || /\(407\)/.test(reason)) {
    return {
      name: 'upstream',
      ok: false,
      detail: `the daemon's upstream proxy refused its credentials: ${reason || code}`,
      fix: `set the right user:password in upstreamProxy in ${configFile} (the daemon reloads it), or in the HTTPS_PROXY the daemon was started with`,
    };
  }
  if (code.startsWith('E_UPSTREAM')) {
    return { name: 'upstream', ok: false, detail: `the daemon cannot reach the index: ${reason || code}`, fix: 'pipcache logs (the daemon says why); check upstreamProxy, noProxy and caFile in the config' };
  }
  if (code === 'E_OFFLINE_MISS') return { name: 'upstream', ok: true, detail: 'offline: the daemon asks no index (pipcache offline off to go online)' };
  if (code === 'E_TEAM_MISS') return { name: 'upstream', ok: true, detail: 'team-only: the daemon asks the team store and no index (pipcache offline off to go online)' };
  return { name: 'upstream', ok: true, detail: `the index answered the daemon (${String(line.status ?? '')})`.trim() };
}

function render(checks: Check[]): string {
  const width = Math.max(...checks.map((c) => c.name.length));
  const lines: string[] = [];
  for (const c of checks) {
    lines.push(`${c.ok ? 'ok ' : 'FIX'}  ${c.name.padEnd(width)}  ${c.detail}`);
    if (!c.ok && c.fix) lines.push(`     ${' '.repeat(width)}  fix: ${c.fix}`);
  }
  return lines.join('\n');
}

/** Proves that the target pip goes through the cache, and says how to fix each thing that stops it. */
export async function doctor(args: DoctorArgs): Promise<{ result: unknown; text: string }> {
  const python = args.python ?? 'python3';
  const p = paths();
  const checks: Check[] = [];
  const finish = () => {
    // A request that reached the daemon proves pip's side; the daemon must also reach the index.
    const ok = checks.find((c) => c.name === 'probe')?.ok === true && checks.find((c) => c.name === 'upstream')?.ok !== false;
    if (!ok) process.exitCode = 1;
    return { result: { ok, python, checks }, text: render(checks) };
  };
  let st: StatusResult;
  try {
    st = await call<StatusResult>(p.socket, 'status');
  } catch (err) {
    checks.push({ name: 'daemon', ok: false, detail: `not running for ${p.home} (${(err as Error).message})`, fix: 'pipcache start' });
    return finish();
  }
  checks.push({ name: 'daemon', ok: true, detail: `running at ${st.address} (pid ${st.pid})` });
  const facts = await pipFacts(python);
  if (typeof facts === 'string') {
    checks.push({ name: 'pip', ok: false, detail: `${python} has no working pip: ${facts}`, fix: 'pipcache doctor --python /path/to/python' });
    return finish();
  }
  checks.push({ name: 'pip', ok: true, detail: `pip ${facts.pip}, Python ${facts.python} (${python})` });
  checks.push(
    ...(await configurationChecks({
      status: st,
      bundle: p.bundle,
      caCert: p.caCert,
      token: await tokenFor(st, p.authToken),
      env: process.env,
      pipConfig: readPipConfig(process.env, facts.prefix),
      pip: facts,
    })),
  );
  checks.push(...(await probe(python, p.logFile, p.config)));
  return finish();
}
