import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { PipcacheError } from './errors.js';

/** Credentials taken out of a URL so that the URL itself can be shown, logged and used as a key. */
export interface UrlCredentials {
  username: string;
  password: string;
}

/**
 * An outbound proxy URL, `http://[user:pass@]host:port` with nothing after
 * the authority; a bare `host:port` is read as http. Null when it is not one
 * (an `https://` proxy would mean TLS to the proxy itself, which is not
 * supported).
 */
export function parseProxyUrl(text: string): URL | null {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    return null;
  }
  if (u.protocol !== 'http:' || !u.hostname || (u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) return null;
  return u;
}

/** `url` with any user and password replaced by `***`, and no trailing slash: what logs and status may show. */
export function redactUrl(url: string | URL): string {
  let u: URL;
  try {
    u = new URL(String(url));
  } catch {
    return '<unparseable URL>';
  }
  const auth = u.username || u.password ? '***@' : '';
  const path = u.pathname === '/' ? '' : u.pathname;
  return `${u.protocol}//${auth}${u.host}${path}`;
}

/** The decoded user and password of a URL, or null when it has none. */
export function urlCredentials(u: URL): UrlCredentials | null {
  if (!u.username && !u.password) return null;
  return { username: decodeURIComponent(u.username), password: decodeURIComponent(u.password) };
}

/**
 * `indexUpstream`: an http(s) origin, optionally with credentials (a parent
 * daemon that requires its token, a private index) and optionally ending in
 * `/simple/` as pip's index URLs do. The origin is kept as the index's name;
 * the credentials are kept apart so that the name never carries them.
 */
export function parseIndexUpstream(text: string): { origin: string; credentials: UrlCredentials | null } | null {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return null;
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || !u.hostname || u.search || u.hash) return null;
  if (!/^\/(?:simple\/?)?$/.test(u.pathname)) return null;
  return { origin: u.origin, credentials: urlCredentials(u) };
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * The certificates of a PEM file to add to the upstream trust (`caFile`).
 * Throws E_CONFIG_INVALID naming the file when it is not an absolute path,
 * cannot be read, or holds no certificate that parses.
 */
export function readCaFile(path: string): string[] {
  if (!isAbsolute(path)) throw new PipcacheError('E_CONFIG_INVALID', `caFile: expected an absolute path, got ${JSON.stringify(path)}`);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new PipcacheError('E_CONFIG_INVALID', `caFile ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  const pems = text.match(PEM_CERT) ?? [];
  if (pems.length === 0) throw new PipcacheError('E_CONFIG_INVALID', `caFile ${path}: no PEM certificate (-----BEGIN CERTIFICATE-----) in the file`);
  for (const pem of pems) {
    try {
      new X509Certificate(pem);
    } catch (err) {
      throw new PipcacheError('E_CONFIG_INVALID', `caFile ${path}: a certificate does not parse (${(err as Error).message})`, { cause: err });
    }
  }
  return pems;
}

/** A `noProxy` entry: `*`, a host name or `.suffix`, an address or network, optionally with `:port`. */
export function isNoProxyEntry(value: unknown): value is string {
  return typeof value === 'string' && /^(\*|\.?[A-Za-z0-9.-]+(:\d{1,5})?|\[?[0-9A-Fa-f:.]+\]?(\/\d{1,3})?(:\d{1,5})?)$/.test(value);
}
