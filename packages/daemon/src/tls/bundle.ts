import { readFile, writeFile, rename } from 'node:fs/promises';
import tls from 'node:tls';

/**
 * The CA bundle pip is pointed at: the local CA (intercepted hosts), Node's
 * public roots and any NODE_EXTRA_CA_CERTS (so tunnelled hosts verify with
 * the same roots the daemon trusts). pip < 24.2 trusts exactly one bundle.
 */
export async function writeBundle(path: string, caPem: string, extraCaFile: string | undefined): Promise<void> {
  const parts = [`# pipcache local CA\n${caPem.trim()}\n`];
  if (extraCaFile) {
    const extra = await readFile(extraCaFile, 'utf8').catch(() => '');
    if (extra.trim()) parts.push(`# NODE_EXTRA_CA_CERTS\n${extra.trim()}\n`);
  }
  parts.push(`# public roots\n${tls.rootCertificates.join('\n')}\n`);
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, parts.join('\n'), { mode: 0o644 });
  await rename(tmp, path);
}
