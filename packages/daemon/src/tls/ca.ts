import { webcrypto, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile, chmod } from 'node:fs/promises';
import { dirname } from 'node:path';
import { hostname } from 'node:os';
import * as x509 from '@peculiar/x509';
import { PipcacheError } from '@pipcache/shared';
import { NAME_CONSTRAINTS_OID, canonicalHosts, encodeNameConstraints } from './name-constraints.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

export const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const CA_LIFETIME_DAYS = 3650;
/** A CA closer than this to expiry is replaced at start. */
const CA_RENEW_BEFORE_DAYS = 30;
const DAY_MS = 86_400_000;

export interface CertificateAuthority {
  cert: x509.X509Certificate;
  certPem: string;
  privateKey: CryptoKey;
  /** The hosts its name constraints permit (canonical form). */
  hosts: string[];
  /** True when this call created (or replaced) the CA. */
  created: boolean;
  /** Why it was made: none yet, the old one was about to expire, or its name constraints did not match. */
  reason?: 'new' | 'expiring' | 'constraints';
}

export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f; // positive INTEGER (RFC 5280 4.1.2.2)
  return bytes.toString('hex');
}

async function writeAtomic(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

export async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

/**
 * A CA file that exists but does not parse is not replaced on its own: pip
 * trusts the bundle made from it, so the user decides to start a new CA.
 */
function invalidCa(path: string, what: string, err: unknown): PipcacheError {
  return new PipcacheError(
    'E_CA_INVALID',
    `${path} is not a valid ${what} (${(err as Error).message}); move ${dirname(path)} away to make a new CA, and pip must then trust the new bundle`,
    { cause: err },
  );
}

async function importPrivateKeyPem(pem: string, path: string): Promise<CryptoKey> {
  try {
    const [der] = x509.PemConverter.decode(pem);
    if (!der) throw new Error('no PEM block');
    return (await webcrypto.subtle.importKey('pkcs8', der, KEY_ALGORITHM, true, ['sign'])) as CryptoKey;
  } catch (err) {
    throw invalidCa(path, 'CA private key', err);
  }
}

function parseCertificate(pem: string, path: string): x509.X509Certificate {
  try {
    return new x509.X509Certificate(pem);
  } catch (err) {
    throw invalidCa(path, 'CA certificate', err);
  }
}

async function createCa(hosts: string[]): Promise<{ cert: x509.X509Certificate; privateKey: CryptoKey }> {
  const keys = (await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=pipcache local CA (${hostname().replace(/[,=+<>#;"\\]/g, '')}), O=pipcache`,
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + CA_LIFETIME_DAYS * DAY_MS),
    signingAlgorithm: KEY_ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      // The CA may sign only for the intercepted hosts: a copied key cannot
      // impersonate anything else to a client that trusts the bundle.
      new x509.Extension(NAME_CONSTRAINTS_OID, true, encodeNameConstraints(hosts)),
    ],
  });
  return { cert, privateKey: keys.privateKey };
}

/** True when the certificate carries exactly the name constraints for `hosts` (critical). */
function constrainedTo(cert: x509.X509Certificate, hosts: string[]): boolean {
  const ext = cert.getExtension(NAME_CONSTRAINTS_OID);
  return !!ext && ext.critical && Buffer.from(ext.value).equals(encodeNameConstraints(hosts));
}

/** Makes a new CA for `hosts` and writes it over the old one (key 0600, each file replaced atomically). */
export async function rotateCa(certPath: string, keyPath: string, hosts: readonly string[]): Promise<CertificateAuthority> {
  const canonical = canonicalHosts(hosts);
  await mkdir(dirname(certPath), { recursive: true, mode: 0o700 });
  const { cert, privateKey } = await createCa(canonical);
  const certPem = cert.toString('pem');
  await writeAtomic(keyPath, await exportPrivateKeyPem(privateKey), 0o600);
  await writeAtomic(certPath, `${certPem}\n`, 0o644);
  return { cert, certPem, privateKey, hosts: canonical, created: true };
}

/**
 * Loads the local CA from disk, creating it on first start and replacing it
 * when it is about to expire or when its name constraints are not exactly
 * `hosts` (the intercepted hosts changed, or a CA made before constraints).
 * The key file is written with mode 0600.
 */
export async function loadOrCreateCa(certPath: string, keyPath: string, hosts: readonly string[]): Promise<CertificateAuthority> {
  const canonical = canonicalHosts(hosts);
  let reason: CertificateAuthority['reason'] = 'new';
  try {
    const [certPem, keyPem] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]);
    const cert = parseCertificate(certPem, certPath);
    if (cert.notAfter.getTime() - Date.now() <= CA_RENEW_BEFORE_DAYS * DAY_MS) reason = 'expiring';
    else if (!constrainedTo(cert, canonical)) reason = 'constraints';
    else {
      await chmod(keyPath, 0o600);
      return { cert, certPem: cert.toString('pem'), privateKey: await importPrivateKeyPem(keyPem, keyPath), hosts: canonical, created: false };
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return { ...(await rotateCa(certPath, keyPath, canonical)), reason };
}
