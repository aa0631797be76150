import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, isPipcacheError } from '@pipcache/shared';
import { refusalStatus, UpstreamGate } from './gate.js';

const PAGE = new URL('https://pypi.org/simple/demo/');
const FILE = new URL('https://files.pythonhosted.org/packages/demo-1.0-py3-none-any.whl');

function gate(mode: 'online' | 'team' | 'offline', hasTeamStore = true): UpstreamGate {
  return new UpstreamGate({
    config: () => DEFAULT_CONFIG,
    offline: () => mode === 'offline',
    teamOnly: () => mode === 'team',
    hasTeamStore: () => hasTeamStore,
  });
}

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (err) {
    if (isPipcacheError(err)) return err.code;
    throw err;
  }
  return undefined;
}

describe('the gate in its three modes', () => {
  it('online: pages and files may be fetched and go out to the index', () => {
    const g = gate('online');
    expect(g.teamOnly()).toBe(false);
    expect(g.refusal('page', PAGE)).toBeNull();
    expect(code(() => g.checkOutbound('file', FILE))).toBeUndefined();
  });

  it('team-only: pages and files may be had (from the team store), but nothing goes out to an index, a tunnel or a forward', async () => {
    const g = gate('team');
    expect(g.teamOnly()).toBe(true);
    expect(g.refusal('page', PAGE)).toBeNull();
    expect(code(() => g.checkFetch('file', FILE))).toBeUndefined();
    expect(code(() => g.checkOutbound('page', PAGE))).toBe('E_TEAM_MISS');
    expect(code(() => g.checkOutbound('file', FILE))).toBe('E_TEAM_MISS');
    await expect(g.checkConnect('tunnel', 'example.org', 443)).rejects.toMatchObject({ code: 'E_TEAM_MISS' });
    await expect(g.checkConnect('forward', 'example.org', 80)).rejects.toMatchObject({ code: 'E_TEAM_MISS' });
    // Still only the configured indexes, whatever the mode.
    expect(g.refusal('file', new URL('https://evil.example/x.whl'))?.code).toBe('E_FORBIDDEN');
  });

  it('team-only with no team store configured refuses like offline, saying why', () => {
    const refused = gate('team', false).refusal('page', PAGE);
    expect(refused?.code).toBe('E_TEAM_MISS');
    expect(refused?.message).toMatch(/no team store/);
  });

  it('offline: nothing at all', async () => {
    const g = gate('offline');
    expect(g.teamOnly()).toBe(false);
    expect(g.refusal('page', PAGE)?.code).toBe('E_OFFLINE_MISS');
    await expect(g.checkConnect('tunnel', 'example.org', 443)).rejects.toMatchObject({ code: 'E_OFFLINE_MISS' });
  });

  it('answers a team-only miss as an offline one: a page 404 (no such project), a file 503, a tunnel 403', () => {
    const err = gate('team').refusal('page', new URL('https://evil.example/')) ?? undefined;
    expect(err?.code).toBe('E_FORBIDDEN');
    let miss: unknown;
    try {
      gate('team').checkOutbound('page', PAGE);
    } catch (e) {
      miss = e;
    }
    if (!isPipcacheError(miss)) throw new Error('no refusal');
    expect([refusalStatus('page', miss), refusalStatus('file', miss), refusalStatus('tunnel', miss)]).toEqual([404, 503, 403]);
  });
});

describe('tunnels and forwards beyond loopback clients', () => {
  const open = new UpstreamGate({
    config: () => ({ ...DEFAULT_CONFIG, allow: ['10.0.0.0/8'] }),
    offline: () => false,
    teamOnly: () => false,
    hasTeamStore: () => false,
  });

  it('through an outbound proxy, a name goes on unresolved (the proxy resolves it); an internal address literal is still refused', async () => {
    await expect(open.checkConnect('tunnel', 'only-the-proxy-knows.invalid', 443, true)).resolves.toEqual({ host: 'only-the-proxy-knows.invalid', port: 443 });
    await expect(open.checkConnect('forward', 'only-the-proxy-knows.invalid', 8080, true)).resolves.toEqual({ host: 'only-the-proxy-knows.invalid', port: 8080 });
    await expect(open.checkConnect('tunnel', '127.0.0.1', 443, true)).rejects.toMatchObject({ code: 'E_FORBIDDEN' });
    await expect(open.checkConnect('tunnel', '10.1.2.3', 443, true)).rejects.toMatchObject({ code: 'E_FORBIDDEN' });
  });

  it('a loopback name is refused directly (it resolves to loopback) and through a proxy (whose own loopback it would reach)', async () => {
    await expect(open.checkConnect('tunnel', 'localhost', 443)).rejects.toMatchObject({ code: 'E_FORBIDDEN' });
    await expect(open.checkConnect('tunnel', 'localhost', 443, true)).rejects.toMatchObject({ code: 'E_FORBIDDEN' });
    await expect(open.checkConnect('forward', 'admin.localhost', 80, true)).rejects.toMatchObject({ code: 'E_FORBIDDEN' });
  });
});
