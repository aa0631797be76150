import { readFileSync, statSync } from 'node:fs';
import type { IndexSpec } from '@pipcache/shared';

/** One `machine` (or `default`) entry of a netrc file. */
export interface NetrcEntry {
  login?: string;
  password?: string;
}

/**
 * Reads netrc text (the format curl, pip's requests and ftp share): tokens
 * separated by white space, `machine NAME` (or `default`) followed by
 * `login`, `password`, `account`; `macdef` bodies run to the next blank line;
 * `#` starts a comment.
 */
export function parseNetrc(text: string): Map<string, NetrcEntry> {
  const out = new Map<string, NetrcEntry>();
  const lines = text.split(/\r?\n/);
  const tokens: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).replace(/(^|\s)#.*$/, '');
    const words = line.split(/\s+/).filter(Boolean);
    if (words[0] === 'macdef') {
      while (i + 1 < lines.length && (lines[i + 1] as string).trim() !== '') i++;
      continue;
    }
    tokens.push(...words);
  }
  let current: NetrcEntry | undefined;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t === 'machine' || t === 'default') {
      const name = t === 'default' ? '' : (tokens[++i] ?? '').toLowerCase();
      current = {};
      if (!out.has(name)) out.set(name, current);
    } else if (current && (t === 'login' || t === 'password' || t === 'account')) {
      const value = tokens[++i];
      if (value !== undefined && t !== 'account') current[t] = value;
    }
  }
  return out;
}

/** A Basic credential from `user:password`, or from a token (the user name, empty password, as pip sends `https://TOKEN@host/`). */
export function basicAuth(secret: string): string {
  const pair = secret.includes(':') ? secret : `${secret}:`;
  return `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`;
}

export interface CredentialsDeps {
  /** The daemon's environment (read on every use, so a restart picks up a new secret). */
  env: () => NodeJS.ProcessEnv;
  /** `$NETRC`, else `~/.netrc`. */
  netrcPath: () => string;
}

/**
 * The Authorization header sent to an index that needs one. Secrets stay
 * in memory, are read from where the config points (an environment
 * variable, the netrc file) and are never written anywhere.
 */
export class UpstreamCredentials {
  private netrc: { key: string; entries: Map<string, NetrcEntry> } | undefined;

  constructor(private readonly deps: CredentialsDeps) {}

  /** `Basic ...` for a request to `index`'s host, or undefined when it has no credentials (or they are not set). */
  authorization(index: IndexSpec): string | undefined {
    const creds = index.credentials;
    if (!creds) return undefined;
    if (creds.env) {
      const secret = this.deps.env()[creds.env];
      if (secret) return basicAuth(secret);
    }
    if (creds.netrc) {
      const host = new URL(index.root).hostname.toLowerCase();
      const entries = this.readNetrc();
      const entry = entries.get(host) ?? entries.get('');
      if (entry?.login !== undefined) return basicAuth(`${entry.login}:${entry.password ?? ''}`);
    }
    return undefined;
  }

  /** The netrc entries, read again only when the file changed. */
  private readNetrc(): Map<string, NetrcEntry> {
    const path = this.deps.netrcPath();
    let key: string;
    try {
      const st = statSync(path);
      key = `${path}\u0000${st.mtimeMs}\u0000${st.size}`;
    } catch {
      return new Map();
    }
    if (this.netrc?.key !== key) {
      let text = '';
      try {
        text = readFileSync(path, 'utf8');
      } catch {
        text = '';
      }
      this.netrc = { key, entries: parseNetrc(text) };
    }
    return this.netrc.entries;
  }
}
