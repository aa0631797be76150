import type { StatusResult } from '@pipcache/shared';
import { coveredBy } from './certs.js';
import { bypassingEntries, withoutBypasses } from './no-proxy.js';
import { pipSetting, type ConfigEntry } from './pip-config.js';
import { isUnset, type EnvAction } from './shell.js';

/** The daemon's address, carrying the token as basic-auth credentials when the daemon requires it. */
export function daemonAddress(st: StatusResult, token: string | null): string {
  if (!st.auth || token === null) return st.address;
  const u = new URL(st.address);
  u.username = 'pipcache';
  u.password = token;
  return u.href.replace(/\/$/, '');
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

/** The variables that send pip through the daemon in a clean shell. */
export function baseVars(st: StatusResult, bundle: string, index: boolean, token: string | null): Record<string, string> {
  const address = daemonAddress(st, token);
  if (!index) return { HTTPS_PROXY: address, HTTP_PROXY: address, https_proxy: address, http_proxy: address, PIP_CERT: bundle };
  const vars: Record<string, string> = { PIP_INDEX_URL: `${address}/simple/` };
  if (!LOOPBACK.has(st.host)) vars.PIP_TRUSTED_HOST = st.host;
  return vars;
}

export interface EnvPlanInput {
  status: StatusResult;
  bundle: string;
  token: string | null;
  index: boolean;
  /** Also print what uv needs. */
  uv: boolean;
  /** The caller's environment, as the shell that evaluates the output has it. */
  env: NodeJS.ProcessEnv;
  /** pip's configuration files, read for the caller. */
  pipConfig: readonly ConfigEntry[];
}

export interface EnvPlan {
  actions: EnvAction[];
  /** What the caller should know: printed on stderr so `eval` ignores it. */
  notes: string[];
}

/** Variables through which Python's requests (and so pip) or OpenSSL pick one CA file, overriding PIP_CERT. */
const CA_VARIABLES = ['REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'SSL_CERT_FILE'] as const;

async function caActions(input: EnvPlanInput, plan: EnvPlan): Promise<void> {
  const { env, bundle } = input;
  for (const name of CA_VARIABLES) {
    const before = env[name];
    const wanted = Boolean(before) || (name === 'SSL_CERT_FILE' && input.uv);
    if (!wanted) continue;
    plan.actions.push({ name, value: bundle });
    if (!before || before === bundle) continue;
    const check = await coveredBy(before, bundle);
    if (check.kind === 'covered') continue;
    const what =
      check.kind === 'missing'
        ? `${check.missing} of its ${check.total} certificates are not in the bundle`
        : check.kind === 'directory'
          ? 'it is a directory, whose certificates the bundle does not take in'
          : `it could not be read (${check.reason})`;
    plan.notes.push(
      `${name} was ${before}: ${what}. Hosts that need those certificates will fail to verify unless the daemon is started with NODE_EXTRA_CA_CERTS naming that file (NODE_EXTRA_CA_CERTS=${before} pipcache start, after pipcache stop).`,
    );
  }
}

/** NO_PROXY entries covering an intercepted host would send pip straight past the daemon. */
function noProxyActions(input: EnvPlanInput, plan: EnvPlan): void {
  for (const name of ['NO_PROXY', 'no_proxy']) {
    const value = input.env[name];
    if (!value) continue;
    const removed = bypassingEntries(value, input.status.interceptHosts);
    if (removed.length === 0) continue;
    const kept = withoutBypasses(value, input.status.interceptHosts);
    plan.actions.push(kept ? { name, value: kept } : { name, unset: true });
    plan.notes.push(`${name} listed ${removed.join(', ')}, which would send requests for ${input.status.interceptHosts.join(', ')} around the cache: removed.`);
  }
}

/** In index mode the daemon is reached directly: a proxy in the environment must not be used for it. */
function indexNoProxy(input: EnvPlanInput, plan: EnvPlan): void {
  const { env, status } = input;
  const proxied = ['http_proxy', 'HTTP_PROXY', 'all_proxy', 'ALL_PROXY'].some((n) => env[n]);
  if (!proxied) return;
  const names = ['no_proxy', 'NO_PROXY'].filter((n) => env[n] !== undefined);
  for (const name of names.length > 0 ? names : ['NO_PROXY']) {
    const value = env[name] ?? '';
    if (bypassingEntries(value, [status.host]).length > 0) continue;
    plan.actions.push({ name, value: value ? `${value},${status.host}` : status.host });
  }
}

function indexHost(url: string): string | null {
  try {
    const u = new URL(url);
    return u.protocol === 'file:' ? null : u.hostname.toLowerCase();
  } catch {
    return null;
  }
}

function where(source: string): string {
  return source.startsWith('PIP_') ? `the environment sets ${source}` : `${source} sets`;
}

/** pip settings that defeat the proxy: named with the exact fix. */
function pipConfigNotes(input: EnvPlanInput, plan: EnvPlan, address: string): void {
  const { env, pipConfig, bundle, status } = input;
  const intercepted = new Set(status.interceptHosts);
  const index = pipSetting(pipConfig, env, 'index-url');
  const host = index ? indexHost(index.value) : null;
  if (index && host && !intercepted.has(host)) {
    plan.notes.push(
      `${where(index.source)} index-url = ${index.value}: pip asks ${host}, which pipcache does not intercept, so nothing is cached. Fix: ${
        index.entry ? 'export PIP_INDEX_URL=https://pypi.org/simple/' : 'unset PIP_INDEX_URL'
      } (or add ${host} to interceptHosts in ${status.home}/config.json and restart the daemon).`,
    );
  }
  const proxy = pipSetting(pipConfig, env, 'proxy');
  if (proxy && proxy.value && proxy.value !== address) {
    // pip >= 24.1 lets --proxy/PIP_PROXY override the environment's proxy variables; older pip lets them win.
    plan.actions.push({ name: 'PIP_PROXY', value: address });
    plan.notes.push(`${where(proxy.source)} proxy = ${proxy.value}: pip from 24.1 on would use it instead of the daemon; PIP_PROXY is set to the daemon here.`);
  }
  const cert = pipSetting(pipConfig, {}, 'cert');
  if (cert?.entry && cert.value !== bundle) {
    plan.notes.push(
      `${cert.source} sets cert = ${cert.value}: the PIP_CERT printed here overrides it in this shell; a pip run without these variables still uses it (fix there: export PIP_CERT=${bundle}).`,
    );
  }
}

/** Which variables make pip (and uv, when asked) trust and reach the daemon whatever the shell already has. */
export async function planEnv(input: EnvPlanInput): Promise<EnvPlan> {
  const { status, bundle, token, index, uv } = input;
  const address = daemonAddress(status, token);
  const plan: EnvPlan = { actions: Object.entries(baseVars(status, bundle, index, token)).map(([name, value]) => ({ name, value })), notes: [] };
  if (index) {
    if (uv) plan.actions.push({ name: 'UV_INDEX_URL', value: `${address}/simple/` });
    indexNoProxy(input, plan);
    return plan;
  }
  await caActions(input, plan);
  noProxyActions(input, plan);
  pipConfigNotes(input, plan, address);
  return plan;
}

/** The variables the plan sets, for `--json` and for callers that build a fresh environment. */
export function setVars(plan: EnvPlan): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const a of plan.actions) if (!isUnset(a)) vars[a.name] = a.value;
  return vars;
}
