import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { PipcacheError, type SharedS3Config } from '@pipcache/shared';

/** lib-storage refuses parts under 5 MiB and more than 10,000 parts; stores such as Swift allow 1,000. */
const MIN_PART_BYTES = 8 * 1024 * 1024;
const MAX_PARTS = 1000;

/** An object as read from the bucket: not yet trusted. */
export interface BucketObject {
  body: Readable;
  size: number | null;
}

/**
 * The few bucket operations the team tier needs, each bounded by
 * `timeoutMs` (connect, time to headers, and any silence on the socket).
 * Credentials come from the SDK's default chain (AWS_* environment,
 * AWS_PROFILE, the shared credentials file), never from the config.
 */
export class Bucket {
  private readonly client: S3Client;

  constructor(
    private readonly s3: SharedS3Config,
    private readonly timeoutMs: number,
  ) {
    this.client = new S3Client({
      region: s3.region,
      ...(s3.endpoint ? { endpoint: s3.endpoint } : {}),
      forcePathStyle: s3.forcePathStyle,
      // A retry would double the bounded delay; the upload backlog retries on its own.
      maxAttempts: 1,
      // Stream bodies with default checksums go out `aws-chunked`, which
      // several S3-compatible stores (Swift) reject; the blobs are verified by sha256 anyway.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { connectionTimeout: timeoutMs, requestTimeout: timeoutMs },
    });
  }

  /** `<prefix>blobs/<sha256>`: the object key of a blob. */
  key(sha256: string): string {
    return `${this.s3.prefix}blobs/${sha256}`;
  }

  /** `<prefix>pages/<origin>/<project>.json`: the object key of a project's page. */
  pageKey(origin: string, project: string): string {
    return `${this.s3.prefix}pages/${origin}/${project}.json`;
  }

  /** Where the tier lives, for the log and status (no credentials in it). */
  describe(): string {
    return `s3://${this.s3.bucket}/${this.s3.prefix}${this.s3.endpoint ? ` at ${this.s3.endpoint}` : ''}`;
  }

  /** The blob's object, or null when there is none. Throws when the bucket cannot answer in time. */
  get(sha256: string): Promise<BucketObject | null> {
    return this.getObject(this.key(sha256));
  }

  /**
   * A small text object read whole (a page document), or null when there is
   * none. Throws when the bucket cannot answer in time, or E_LIMIT when the
   * object is larger than `maxBytes`.
   */
  async getText(key: string, maxBytes: number): Promise<string | null> {
    const obj = await this.getObject(key);
    if (!obj) return null;
    const tooLarge = (): PipcacheError => new PipcacheError('E_LIMIT', `${key} is larger than ${maxBytes} bytes (limits.pageBytes)`);
    if (obj.size !== null && obj.size > maxBytes) {
      obj.body.destroy();
      throw tooLarge();
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of obj.body) {
      total += (chunk as Buffer).length;
      if (total > maxBytes) {
        obj.body.destroy();
        throw tooLarge();
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  /** Writes a small text object (a page document) in one request. */
  async putText(key: string, text: string, contentType: string): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.s3.bucket, Key: key, Body: text, ContentType: contentType }));
  }

  private async getObject(key: string): Promise<BucketObject | null> {
    // The deadline covers the answer's headers only: an abort after them
    // would cut the body, whose silences the socket timeout bounds instead.
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new DOMException('no answer within shared.timeoutMs', 'TimeoutError')), this.timeoutMs);
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.s3.bucket, Key: key }), {
        abortSignal: deadline.signal,
      });
      return { body: res.Body as Readable, size: res.ContentLength ?? null };
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Whether the object exists. */
  async has(sha256: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.s3.bucket, Key: this.key(sha256) }), {
        abortSignal: AbortSignal.timeout(this.timeoutMs),
      });
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }

  /** Uploads a local file (multipart when large), streamed from disk. */
  async upload(sha256: string, path: string, size: number, signal: AbortSignal): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.s3.bucket, Key: this.key(sha256), Body: createReadStream(path), ContentLength: size, ContentType: 'application/octet-stream' },
      partSize: Math.max(MIN_PART_BYTES, Math.ceil(size / MAX_PARTS)),
      queueSize: 2,
      leavePartsOnError: false,
    });
    const abort = (): void => void upload.abort().catch(() => undefined);
    signal.addEventListener('abort', abort, { once: true });
    try {
      await upload.done();
    } finally {
      signal.removeEventListener('abort', abort);
    }
  }

  destroy(): void {
    this.client.destroy();
  }
}

function isMissing(err: unknown): boolean {
  if (err instanceof S3ServiceException) return err.$metadata.httpStatusCode === 404 || err.name === 'NoSuchKey' || err.name === 'NotFound';
  return false;
}
