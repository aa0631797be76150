import { describe, expect, it } from 'vitest';
import { configuredMode, validateConfig } from './config.js';

describe('the shared (team tier) config key', () => {
  it('is off by default', () => {
    expect(validateConfig({}, 'c').shared).toBeNull();
  });

  it('reads the bucket settings and the bounded delay, with defaults', () => {
    const cfg = validateConfig({ shared: { s3: { endpoint: 'http://127.0.0.1:9000/', bucket: 'team-pip', prefix: 'pipcache', forcePathStyle: true } } }, 'c');
    expect(cfg.shared).toEqual({
      s3: { endpoint: 'http://127.0.0.1:9000', bucket: 'team-pip', prefix: 'pipcache/', region: 'us-east-1', forcePathStyle: true },
      timeoutMs: 3000,
    });
    expect(validateConfig({ shared: { s3: { bucket: 'team-pip' }, timeoutMs: 800 } }, 'c').shared?.timeoutMs).toBe(800);
  });

  it('refuses credentials in the config and names the environment variables instead', () => {
    expect(() => validateConfig({ shared: { s3: { bucket: 'team-pip', secretAccessKey: 'x' } } }, 'c')).toThrow(/AWS_SECRET_ACCESS_KEY/);
  });

  it('refuses a bad bucket, a missing one, a bad endpoint and a delay over a minute', () => {
    expect(() => validateConfig({ shared: { s3: { bucket: 'Team_Pip' } } }, 'c')).toThrow(/shared\.s3\.bucket/);
    expect(() => validateConfig({ shared: { s3: {} } }, 'c')).toThrow(/shared\.s3\.bucket: missing/);
    expect(() => validateConfig({ shared: { s3: { bucket: 'team-pip', endpoint: 'ftp://x' } } }, 'c')).toThrow(/shared\.s3\.endpoint/);
    expect(() => validateConfig({ shared: { s3: { bucket: 'team-pip' }, timeoutMs: 120_000 } }, 'c')).toThrow(/shared\.timeoutMs/);
    expect(() => validateConfig({ shared: {} }, 'c')).toThrow(/shared\.s3: missing/);
  });

  it('takes offline "team" (team-only mode) only with a team store', () => {
    const cfg = validateConfig({ offline: 'team', shared: { s3: { bucket: 'team-pip' } } }, 'c');
    expect(configuredMode(cfg.offline)).toBe('team');
    expect(() => validateConfig({ offline: 'team' }, 'c')).toThrow(/offline: "team" reads the team store only/);
    expect(() => validateConfig({ offline: 'teams' }, 'c')).toThrow(/offline: expected true, false or "team"/);
    expect([configuredMode(true), configuredMode(false)]).toEqual(['offline', 'online']);
  });
});
