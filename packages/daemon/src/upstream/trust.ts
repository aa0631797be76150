import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { readCaFile } from '@pipcache/shared';

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * The certificates upstream TLS trusts. Null (Node's defaults, which already
 * hold NODE_EXTRA_CA_CERTS) unless `caFile` is set; then Node's roots, the
 * NODE_EXTRA_CA_CERTS file and `caFile`, because an explicit list replaces
 * Node's defaults instead of adding to them. A bad `caFile` throws
 * E_CONFIG_INVALID naming it.
 */
export function upstreamTrust(caFile: string | null, extraCaFile: string | undefined): string[] | null {
  if (!caFile) return null;
  const extra = extraCaFile ? (readOptional(extraCaFile).match(PEM_CERT) ?? []) : [];
  return [...rootCertificates, ...extra, ...readCaFile(caFile)];
}

/** NODE_EXTRA_CA_CERTS that cannot be read is Node's own warning to give, not a reason to stop. */
function readOptional(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
