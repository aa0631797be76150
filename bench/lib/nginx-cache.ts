/**
 * nginx as a caching reverse proxy of the fake PyPI, configured after the
 * nginx_pypi_cache project: `proxy_cache` keyed on the URI (and
 * Accept-Encoding), `proxy_cache_lock on`, stale answers on upstream errors,
 * `sub_filter` rewriting the file URLs on pages so that pip fetches archives
 * through nginx too, pages valid 5 minutes, files a month. It listens on
 * 127.0.0.1 (plain HTTP: pip uses it as an index URL) and reaches the fake
 * PyPI over TLS at the given port with the real host names as SNI and Host.
 *
 * Each instance lives in its own directory (config, cache, temp files, logs,
 * pid) and runs in the foreground as a child of the benchmark.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { run } from '../../test/helpers/proc.js';
import { bounded, log } from './common.js';

const NGINX_PATHS = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'];
const APT_TIMEOUT_MS = 300_000;
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;
const SYSTEM_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };

export type NginxAvailability = { binary: string; version: string } | { skipped: string };

export interface NginxCache {
  port: number;
  dir: string;
  /** The master process. */
  pid: number;
  /** `http://127.0.0.1:PORT/simple/`. */
  indexUrl: string;
  /** Access-log lines so far (format `pypi_cache`: cache status, status, request, bytes). */
  accessLog(): Promise<string[]>;
  stop(): Promise<void>;
}

function findNginx(): string | undefined {
  return NGINX_PATHS.find((p) => existsSync(p));
}

async function versionOf(binary: string): Promise<{ version: string; configure: string }> {
  const r = await run(binary, ['-V'], { env: SYSTEM_ENV, timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`${binary} -V failed (code ${r.code}): ${r.stderr}`);
  // nginx -V prints to stderr.
  const text = r.stderr + r.stdout;
  return { version: /nginx version: (\S+)/.exec(text)?.[1] ?? 'unknown', configure: text };
}

async function aptGet(args: string[]): Promise<{ ok: boolean; output: string }> {
  const r = await run('apt-get', args, {
    env: { ...SYSTEM_ENV, DEBIAN_FRONTEND: 'noninteractive' },
    timeoutMs: APT_TIMEOUT_MS,
  }).catch((e: unknown) => ({ code: -1, timedOut: false, stdout: '', stderr: String(e) }));
  return { ok: r.code === 0 && !r.timedOut, output: `${r.stdout}${r.stderr}`.trim().split('\n').slice(-5).join('\n') };
}

/**
 * Finds nginx, installing Debian's `nginx-light` with apt-get when it is
 * missing (non-interactive, bounded). Skipped, with the reason, only when apt
 * cannot be used here (no apt-get, or not root); an install that apt refuses
 * is an error.
 */
export async function ensureNginx(): Promise<NginxAvailability> {
  let binary = findNginx();
  if (!binary) {
    const apt = existsSync('/usr/bin/apt-get') || existsSync('/bin/apt-get');
    if (!apt) return { skipped: 'nginx is not installed and apt-get is not available to install nginx-light' };
    if (process.getuid?.() !== 0) return { skipped: 'nginx is not installed and apt-get needs root to install nginx-light (run as root, or install it)' };
    log('nginx not found: apt-get install nginx-light');
    const install = ['install', '-y', '-q', '--no-install-recommends', 'nginx-light'];
    let r = await aptGet(install);
    if (!r.ok) {
      log('apt-get install failed; apt-get update and retry');
      await aptGet(['update', '-q']);
      r = await aptGet(install);
    }
    binary = findNginx();
    if (!r.ok || !binary) throw new Error(`apt-get install nginx-light failed:\n${r.output}`);
  }
  const v = await versionOf(binary);
  if (!v.configure.includes('http_sub_module')) {
    throw new Error(`${binary} (${v.version}) lacks http_sub_module, which the cache configuration needs to rewrite file URLs`);
  }
  return { binary, version: v.version };
}

/** A free loopback port (taken, read, released: nginx binds it right after). */
async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

function config(dir: string, port: number, upstreamPort: number): string {
  const upstreams = ['sg_pypi', 'sg_pythonhosted']
    .map((name) => `    upstream ${name} {\n        server 127.0.0.1:${upstreamPort};\n        server 127.0.0.1:${upstreamPort};\n        keepalive 16;\n    }`)
    .join('\n');
  const location = (path: string, host: string, pass: string, validFor: string): string => `        location ^~ ${path} {
            proxy_set_header Connection "";
            proxy_set_header Accept-Encoding "";
            proxy_cache_valid any ${validFor};
            proxy_cache_valid 404 1m;
            proxy_set_header Host ${host};
            proxy_ssl_name ${host};
            proxy_pass ${pass};
            proxy_redirect 'https://${host}${path === '/packages' ? '/packages' : ''}' $scheme://$http_host${path === '/packages' ? '/packages' : ''};
        }`;
  return `# Generated by bench/lib/nginx-cache.ts after the nginx_pypi_cache project's nginx.conf.
${process.getuid?.() === 0 ? 'user root root;\n' : ''}worker_processes auto;
error_log ${dir}/error.log warn;
pid ${dir}/nginx.pid;
events {
    worker_connections 2048;
}
http {
    default_type application/octet-stream;
    sendfile on;
    tcp_nodelay on;
    tcp_nopush off;
    reset_timedout_connection on;
    server_tokens off;
    gzip on;
    gzip_types application/vnd.pypi.simple.v1+json;
    gzip_proxied any;
    gzip_vary on;
    client_body_temp_path ${dir}/tmp/body;
    proxy_temp_path ${dir}/tmp/proxy;
    fastcgi_temp_path ${dir}/tmp/fastcgi;
    uwsgi_temp_path ${dir}/tmp/uwsgi;
    scgi_temp_path ${dir}/tmp/scgi;
    log_format pypi_cache 'cache_status=$upstream_cache_status $status "$request" $body_bytes_sent';
    access_log ${dir}/access.log pypi_cache;
    proxy_cache_path ${dir}/cache levels=1:2 keys_zone=pypi:16m inactive=1M max_size=50G;
${upstreams}
    server {
        listen 127.0.0.1:${port};
        proxy_cache pypi;
        proxy_cache_key $uri/$http_accept_encoding;
        proxy_cache_lock on;
        proxy_cache_use_stale error timeout updating http_500 http_502 http_503 http_504;
        proxy_http_version 1.1;
        proxy_ssl_server_name on;
        add_header X-Pypi-Cache $upstream_cache_status;
        sub_filter 'https://pypi.org' $scheme://$http_host;
        sub_filter 'https://files.pythonhosted.org/packages' $scheme://$http_host/packages;
        sub_filter_once off;
        sub_filter_types application/vnd.pypi.simple.v1+json application/vnd.pypi.simple.v1+html;
${location('/simple', 'pypi.org', 'https://sg_pypi', '5m')}
${location('/packages', 'files.pythonhosted.org', "'https://sg_pythonhosted/packages'", '1M')}
    }
}
`;
}

async function waitListening(port: number, child: ChildProcess, dir: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      const err = await readFile(join(dir, 'error.log'), 'utf8').catch(() => '');
      throw new Error(`nginx exited at start (code ${child.exitCode}): ${err.trim().split('\n').slice(-3).join(' | ')}`);
    }
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nginx did not listen on 127.0.0.1:${port} within ${START_TIMEOUT_MS} ms`);
}

/** Pids whose parent is `pid` (nginx's workers), from /proc. */
export function childrenOf(pid: number | undefined): number[] {
  if (pid === undefined) return [];
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // Field 4 (ppid) follows the ")" that closes the command name.
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(name));
    } catch {
      // exited while listing
    }
  }
  return out;
}

function killQuietly(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Starts nginx (from `ensureNginx`) in `dir`, an empty cache in front of 127.0.0.1:`upstreamPort` (TLS). */
export async function startNginxCache(binary: string, dir: string, upstreamPort: number): Promise<NginxCache> {
  await mkdir(join(dir, 'tmp'), { recursive: true });
  await mkdir(join(dir, 'cache'), { recursive: true });
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  await writeFile(conf, config(dir, port, upstreamPort));
  const child = spawn(binary, ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf, '-g', 'daemon off;'], {
    env: SYSTEM_ENV,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const workers = childrenOf(child.pid);
    child.kill('SIGTERM'); // fast shutdown of master and workers
    await bounded('stopping nginx', STOP_TIMEOUT_MS, exited).catch(() => {
      // Workers outlive a killed master: end them by pid too.
      for (const pid of [child.pid, ...workers]) killQuietly(pid);
    });
  };
  try {
    await waitListening(port, child, dir);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    port,
    dir,
    pid: child.pid!,
    indexUrl: `http://127.0.0.1:${port}/simple/`,
    accessLog: async () => (await readFile(join(dir, 'access.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean),
    stop,
  };
}
