import type { StatusResult } from '@pipcache/shared';
import { holdsCert } from './certs.js';
import { daemonAddress } from './env-plan.js';
import { bypassingEntries, effectiveNoProxy, envProxy, withoutBypasses } from './no-proxy.js';
import { pipSetting, type ConfigEntry } from './pip-config.js';

/** One finding: ok, or what is wrong and the exact command that fixes it. */
export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

/** What the target interpreter said about itself. */
export interface PipFacts {
  pip: string;
  python: string;
  prefix: string;
}

export interface DoctorFacts {
  status: StatusResult;
  bundle: string;
  /** The local CA certificate: a bundle pip uses must hold it. */
  caCert: string;
  token: string | null;
  env: NodeJS.ProcessEnv;
  pipConfig: readonly ConfigEntry[];
  pip: PipFacts;
}

const ENV_FIX = 'eval "$(pipcache env)"';

function version(text: string): number[] {
  return text.split('.').map((part) => Number.parseInt(part, 10) || 0);
}

/** Whether dotted version `text` is at least `want`. */
export function atLeast(text: string, ...want: number[]): boolean {
  const have = version(text);
  for (let i = 0; i < want.length; i++) {
    const a = have[i] ?? 0;
    const b = want[i] ?? 0;
    if (a !== b) return a > b;
  }
  return true;
}

function sameEndpoint(url: string, st: StatusResult): boolean {
  try {
    const u = new URL(url);
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const loopback = (h: string) => h === 'localhost' || h === '127.0.0.1' || h === '::1';
    return Number(u.port || (u.protocol === 'https:' ? 443 : 80)) === st.port && (host === st.host || (loopback(host) && loopback(st.host)));
  } catch {
    return false;
  }
}

/** pip's index in index mode points at the daemon itself. */
export function indexMode(facts: DoctorFacts): boolean {
  const index = pipSetting(facts.pipConfig, facts.env, 'index-url');
  return index !== null && sameEndpoint(index.value, facts.status);
}

function proxyOption(facts: DoctorFacts): string | null {
  return pipSetting(facts.pipConfig, facts.env, 'proxy')?.value || null;
}

/** pip >= 24.1 turns the environment off (proxies, NO_PROXY, REQUESTS_CA_BUNDLE) when --proxy/PIP_PROXY is given. */
function trustsEnvironment(facts: DoctorFacts): boolean {
  return !(proxyOption(facts) && atLeast(facts.pip.pip, 24, 1));
}

export function indexCheck(facts: DoctorFacts): Check {
  const index = pipSetting(facts.pipConfig, facts.env, 'index-url');
  if (index === null) return { name: 'index', ok: true, detail: 'pip asks https://pypi.org/simple/ (intercepted)' };
  if (indexMode(facts)) return { name: 'index', ok: true, detail: `index mode: ${index.source} points at the daemon` };
  let host = '';
  try {
    host = new URL(index.value).hostname.toLowerCase();
  } catch {
    /* an unparsable index is reported below */
  }
  if (facts.status.interceptHosts.includes(host)) return { name: 'index', ok: true, detail: `pip asks ${index.value} (intercepted)` };
  return {
    name: 'index',
    ok: false,
    detail: `${index.source} sets index-url = ${index.value}: ${host || 'that index'} is not intercepted, so nothing pip fetches is cached`,
    fix: index.entry ? 'export PIP_INDEX_URL=https://pypi.org/simple/' : 'unset PIP_INDEX_URL',
  };
}

export function proxyCheck(facts: DoctorFacts): Check {
  const name = 'proxy';
  if (indexMode(facts)) return { name, ok: true, detail: 'not used: index mode' };
  const option = proxyOption(facts);
  const fromEnv = trustsEnvironment(facts) ? envProxy(facts.env, 'https') : null;
  const bypassed = fromEnv !== null && bypassingEntries(effectiveNoProxy(facts.env)?.value ?? '', ['pypi.org']).length > 0;
  // requests lets the environment's proxy beat the session's (pip's --proxy) unless NO_PROXY covers the host.
  const used = fromEnv && !bypassed ? { value: fromEnv.value, source: fromEnv.name } : option ? { value: option, source: 'pip option proxy' } : null;
  const address = daemonAddress(facts.status, facts.token);
  if (used === null) return { name, ok: false, detail: bypassed ? 'NO_PROXY sends pypi.org past the proxy' : 'no HTTPS proxy is set for pip', fix: ENV_FIX };
  if (!sameEndpoint(used.value, facts.status)) {
    return {
      name,
      ok: false,
      detail: `${used.source} = ${used.value}, not the daemon (${facts.status.address})`,
      fix: used.source === 'pip option proxy' ? `export PIP_PROXY=${address}` : ENV_FIX,
    };
  }
  if (facts.status.auth && !new URL(used.value).password) {
    return { name, ok: false, detail: `${used.source} carries no token and the daemon requires one`, fix: ENV_FIX };
  }
  return { name, ok: true, detail: `${used.source} = ${facts.status.address}` };
}

export function noProxyCheck(facts: DoctorFacts): Check {
  const name = 'no_proxy';
  if (indexMode(facts) || !trustsEnvironment(facts)) return { name, ok: true, detail: 'not used' };
  const effective = effectiveNoProxy(facts.env);
  const bad = effective ? bypassingEntries(effective.value, facts.status.interceptHosts) : [];
  if (!effective || bad.length === 0) return { name, ok: true, detail: effective ? `${effective.name} covers no intercepted host` : 'not set' };
  const kept = withoutBypasses(effective.value, facts.status.interceptHosts);
  return {
    name,
    ok: false,
    detail: `${effective.name} lists ${bad.join(', ')}: pip goes around the daemon for ${facts.status.interceptHosts.join(', ')}`,
    fix: kept ? `export ${effective.name}='${kept}'` : `unset ${effective.name}`,
  };
}

/** Which CA file this pip verifies the daemon's certificates with, under its version's rules. */
export async function trustCheck(facts: DoctorFacts): Promise<Check> {
  const name = 'trust';
  const { env, pip, bundle, caCert } = facts;
  if (indexMode(facts)) return { name, ok: true, detail: 'not used: index mode is plain http' };
  const rule = `pip ${pip.pip} on Python ${pip.python}`;
  const chosen: { name: string; file: string; fix: string } | null = (() => {
    if (trustsEnvironment(facts)) {
      for (const variable of ['REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE']) {
        const file = env[variable];
        if (file) return { name: variable, file, fix: `export ${variable}=${bundle}` };
      }
    }
    const cert = pipSetting(facts.pipConfig, env, 'cert');
    if (cert?.value) return { name: cert.source.startsWith('PIP_') ? cert.source : `cert (${cert.source})`, file: cert.value, fix: `export PIP_CERT=${bundle}` };
    return null;
  })();
  if (chosen) {
    if (await holdsCert(chosen.file, caCert)) return { name, ok: true, detail: `${rule} verifies with ${chosen.name}=${chosen.file}, which holds the local CA` };
    return { name, ok: false, detail: `${rule} verifies with ${chosen.name}=${chosen.file}, which does not hold the local CA`, fix: chosen.fix };
  }
  const legacy = !atLeast(pip.pip, 24, 2) || !atLeast(pip.python, 3, 10);
  if (legacy) return { name, ok: false, detail: `${rule} trusts only certifi's roots`, fix: `export PIP_CERT=${bundle}` };
  if (!atLeast(pip.pip, 25, 2)) {
    const file = env.SSL_CERT_FILE;
    if (file && (await holdsCert(file, caCert))) return { name, ok: true, detail: `${rule} uses OpenSSL's defaults: SSL_CERT_FILE=${file} holds the local CA` };
    return { name, ok: false, detail: `${rule} uses OpenSSL's defaults through a proxy, which do not hold the local CA`, fix: `export PIP_CERT=${bundle}` };
  }
  return { name, ok: false, detail: `${rule} trusts the system store and certifi: only a system store holding the local CA would do`, fix: `export PIP_CERT=${bundle}` };
}

/** pip.conf settings in effect (not overridden by a variable) that defeat the cache. */
export async function pipConfigCheck(facts: DoctorFacts): Promise<Check> {
  const name = 'pip.conf';
  const files = [...new Set(facts.pipConfig.map((e) => e.file))];
  const problems: string[] = [];
  const fixes: string[] = [];
  const address = daemonAddress(facts.status, facts.token);
  const proxy = pipSetting(facts.pipConfig, facts.env, 'proxy');
  if (proxy?.entry && proxy.value && !sameEndpoint(proxy.value, facts.status) && atLeast(facts.pip.pip, 24, 1)) {
    problems.push(`${proxy.source} sets proxy = ${proxy.value}, which pip ${facts.pip.pip} uses instead of the environment`);
    fixes.push(`export PIP_PROXY=${address}`);
  }
  const index = indexCheck(facts);
  if (!index.ok && pipSetting(facts.pipConfig, facts.env, 'index-url')?.entry) {
    problems.push(index.detail);
    fixes.push(index.fix ?? '');
  }
  const cert = pipSetting(facts.pipConfig, facts.env, 'cert');
  if (cert?.entry && !(await holdsCert(cert.value, facts.caCert))) {
    problems.push(`${cert.source} sets cert = ${cert.value}, which does not hold the local CA, and PIP_CERT does not override it`);
    fixes.push(`export PIP_CERT=${facts.bundle}`);
  }
  if (problems.length === 0) return { name, ok: true, detail: files.length > 0 ? `read ${files.join(', ')}: nothing defeats the cache` : 'no pip configuration file' };
  return { name, ok: false, detail: problems.join('; '), fix: fixes.join(' && ') };
}

export function offlineCheck(st: StatusResult): Check {
  return {
    name: 'offline',
    ok: true,
    detail: st.offline
      ? 'on: only what is cached is served (pipcache offline off to fetch again)'
      : st.mode === 'team'
        ? 'team: misses come from the team store only, no index (pipcache offline off to fetch again)'
        : 'off: misses are fetched upstream',
  };
}

/** Every check that reads configuration; the probe is run separately. */
export async function configurationChecks(facts: DoctorFacts): Promise<Check[]> {
  return [proxyCheck(facts), noProxyCheck(facts), await trustCheck(facts), await pipConfigCheck(facts), indexCheck(facts), offlineCheck(facts.status)];
}
