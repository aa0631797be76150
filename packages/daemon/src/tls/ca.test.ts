import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isPipcacheError } from '@pipcache/shared';
import { loadOrCreateCa } from './ca.js';

const HOSTS = ['pypi.org', 'files.pythonhosted.org'];

describe('loadOrCreateCa', () => {
  let dir: string;
  let certPath: string;
  let keyPath: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pipcache-ca-'));
    certPath = join(dir, 'ca.pem');
    keyPath = join(dir, 'ca-key.pem');
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('creates a CA once and loads it afterwards', async () => {
    const made = await loadOrCreateCa(certPath, keyPath, HOSTS);
    expect(made.created).toBe(true);
    const loaded = await loadOrCreateCa(certPath, keyPath, HOSTS);
    expect(loaded.created).toBe(false);
    expect(loaded.certPem).toBe(made.certPem);
  });

  it('refuses a corrupt CA key with E_CA_INVALID naming the file and keeps it', async () => {
    await loadOrCreateCa(certPath, keyPath, HOSTS);
    const garbage = '-----BEGIN PRIVATE KEY-----\nZ2FyYmFnZQ==\n-----END PRIVATE KEY-----\n';
    await writeFile(keyPath, garbage);
    const err = await loadOrCreateCa(certPath, keyPath, HOSTS).catch((e: unknown) => e);
    expect(isPipcacheError(err, 'E_CA_INVALID')).toBe(true);
    expect((err as Error).message).toContain(keyPath);
    expect((err as Error).message).toMatch(/move .* away/);
    // The trusted CA is the user's to replace: nothing was overwritten.
    expect(await readFile(keyPath, 'utf8')).toBe(garbage);
  });

  it('refuses a key file with no PEM block', async () => {
    await loadOrCreateCa(certPath, keyPath, HOSTS);
    await writeFile(keyPath, 'not a key at all');
    await expect(loadOrCreateCa(certPath, keyPath, HOSTS)).rejects.toMatchObject({ code: 'E_CA_INVALID' });
  });

  it('refuses a corrupt CA certificate with E_CA_INVALID naming the file', async () => {
    await loadOrCreateCa(certPath, keyPath, HOSTS);
    await writeFile(certPath, 'garbage');
    const err = await loadOrCreateCa(certPath, keyPath, HOSTS).catch((e: unknown) => e);
    expect(isPipcacheError(err, 'E_CA_INVALID')).toBe(true);
    expect((err as Error).message).toContain(certPath);
  });
});
