import { webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import tls from 'node:tls';
import * as x509 from '@peculiar/x509';
type CryptoKeyPair = webcrypto.CryptoKeyPair;
import { KEY_ALGORITHM, exportPrivateKeyPem, randomSerial, type CertificateAuthority } from './ca.js';

const DAY_MS = 86_400_000;
const PREFERRED_TLS13 = 'TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384';
const LEAF_LIFETIME_DAYS = 365;

/**
 * Per-host TLS contexts signed by the local CA. One leaf key pair is made at
 * start and shared by every host (signing a certificate is cheap; making a key
 * is not); contexts are cached and re-issued before they expire.
 */
export class LeafCache {
  private readonly contexts = new Map<string, Promise<{ ctx: tls.SecureContext; notAfter: number }>>();
  private leafKeys: Promise<{ pair: CryptoKeyPair; pem: string }> | undefined;

  constructor(private ca: CertificateAuthority) {}

  /** Switches to a new CA (rotation): every leaf signed by the old one is dropped. */
  setCa(ca: CertificateAuthority): void {
    this.ca = ca;
    this.contexts.clear();
  }

  private keys(): Promise<{ pair: CryptoKeyPair; pem: string }> {
    this.leafKeys ??= (async () => {
      const pair = (await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
      return { pair, pem: await exportPrivateKeyPem(pair.privateKey) };
    })();
    return this.leafKeys;
  }

  async get(host: string): Promise<tls.SecureContext> {
    const key = host.toLowerCase();
    const cached = this.contexts.get(key);
    if (cached) {
      const entry = await cached;
      if (entry.notAfter - Date.now() > DAY_MS) return entry.ctx;
    }
    const made = this.issue(key);
    this.contexts.set(key, made);
    made.catch(() => this.contexts.delete(key));
    return (await made).ctx;
  }

  private async issue(host: string): Promise<{ ctx: tls.SecureContext; notAfter: number }> {
    const ca = this.ca;
    const { pair, pem } = await this.keys();
    const now = Date.now();
    const notAfter = Math.min(now + LEAF_LIFETIME_DAYS * DAY_MS, ca.cert.notAfter.getTime());
    const san = isIP(host) ? { type: 'ip' as const, value: host } : { type: 'dns' as const, value: host };
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: `CN=${host}`,
      issuer: ca.cert.subject,
      notBefore: new Date(now - DAY_MS),
      notAfter: new Date(notAfter),
      signingAlgorithm: KEY_ALGORITHM,
      publicKey: pair.publicKey,
      signingKey: ca.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([san]),
        await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
        await x509.SubjectKeyIdentifierExtension.create(pair.publicKey),
      ],
    });
    const ctx = tls.createSecureContext({
      key: pem,
      cert: `${cert.toString('pem')}\n${ca.certPem}`,
      minVersion: 'TLSv1.2',
      // AES-128-GCM first: as safe for this local hop and cheaper than
      // AES-256 to encrypt here and decrypt in pip, for every byte served.
      ciphers: `${PREFERRED_TLS13}:${tls.DEFAULT_CIPHERS}`,
      honorCipherOrder: true,
    });
    return { ctx, notAfter };
  }
}
