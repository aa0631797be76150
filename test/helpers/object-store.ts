import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { run } from './proc.js';

const SCRIPT = resolve(fileURLToPath(import.meta.url), '../../fixtures/swift-s3.sh');
const START_TIMEOUT_MS = 90_000;
const BUCKET_READY_MS = 30_000;

/**
 * A real S3-compatible object store on loopback: OpenStack Swift with its
 * s3api and tempauth middleware (Debian's python3-swift), run from a temp
 * directory by test/fixtures/swift-s3.sh.
 */
export interface ObjectStore {
  endpoint: string;
  region: string;
  /** The AWS_* variables a daemon needs to reach it (the SDK's default chain reads them). */
  env: Record<string, string>;
  client: S3Client;
  createBucket(name: string): Promise<void>;
  /** SIGSTOPs the proxy server: connections are accepted by the kernel and never answered (a hung store). */
  freeze(): Promise<void>;
  thaw(): Promise<void>;
  stop(): Promise<void>;
}

export async function startObjectStore(dir: string): Promise<ObjectStore> {
  const started = await run('bash', [SCRIPT, 'start', dir], { env: { PATH: process.env.PATH, SWIFT_S3_START_TIMEOUT: '80' }, timeoutMs: START_TIMEOUT_MS });
  if (started.code !== 0) {
    throw new Error(`Swift with the S3 API did not start (needs Debian's python3-swift; .ci/run installs it): ${started.stderr}${started.stdout}`);
  }
  const vars = Object.fromEntries(
    started.stdout
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  ) as Record<string, string>;
  const endpoint = vars.S3_ENDPOINT as string;
  const region = vars.S3_REGION as string;
  const credentials = { accessKeyId: vars.S3_ACCESS_KEY as string, secretAccessKey: vars.S3_SECRET_KEY as string };
  const client = new S3Client({
    endpoint,
    region,
    credentials,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const proxyPid = async (): Promise<number> => Number((await readFile(join(dir, 'run', 'proxy.pid'), 'utf8')).trim());
  let frozen = false;
  const thaw = async (): Promise<void> => {
    if (!frozen) return;
    process.kill(await proxyPid(), 'SIGCONT');
    frozen = false;
  };
  return {
    endpoint,
    region,
    env: { AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey, AWS_EC2_METADATA_DISABLED: 'true' },
    client,
    async createBucket(name) {
      // Swift answers ListBuckets (the start probe) before its container servers
      // take writes; until then a PUT gets 503 SlowDown. Retried, bounded.
      const deadline = Date.now() + BUCKET_READY_MS;
      for (;;) {
        try {
          await client.send(new CreateBucketCommand({ Bucket: name }));
          return;
        } catch (err) {
          // A PUT that was answered 503 may still have made it.
          if ((err as Error).name === 'BucketAlreadyOwnedByYou') return;
          const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
          if (status !== 503 || Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    },
    async freeze() {
      process.kill(await proxyPid(), 'SIGSTOP');
      frozen = true;
    },
    thaw,
    async stop() {
      client.destroy();
      await thaw().catch(() => undefined);
      const stopped = await run('bash', [SCRIPT, 'stop', dir], { env: { PATH: process.env.PATH }, timeoutMs: 30_000 });
      if (stopped.code !== 0) throw new Error(`could not stop Swift: ${stopped.stderr}`);
    },
  };
}
