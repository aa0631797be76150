/**
 * The team tier: a bucket on an S3-compatible object store that several
 * daemons share as a second-level blob cache. Credentials never live here:
 * they come from the AWS SDK's default chain (AWS_ACCESS_KEY_ID /
 * AWS_SECRET_ACCESS_KEY, AWS_PROFILE and the shared credentials file).
 */
export interface SharedS3Config {
  /** Endpoint URL (MinIO, Ceph RGW, Swift); null: AWS's own for the region. */
  endpoint: string | null;
  bucket: string;
  /** Key prefix inside the bucket ('' or ending in '/'). */
  prefix: string;
  region: string;
  /** Path-style URLs (`endpoint/bucket/key`), which most non-AWS stores need. */
  forcePathStyle: boolean;
}

export interface SharedConfig {
  s3: SharedS3Config;
  /** Longest a bucket lookup may delay a request before the daemon goes upstream (ms). */
  timeoutMs: number;
}

export const DEFAULT_SHARED_TIMEOUT_MS = 3000;

const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Parses the `shared` config key; problems are pushed, not thrown. */
export function parseSharedConfig(value: unknown, problems: string[]): SharedConfig | null | undefined {
  if (value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) {
    problems.push('shared: expected an object such as {"s3": {"bucket": "team-pip"}}');
    return undefined;
  }
  let timeoutMs = DEFAULT_SHARED_TIMEOUT_MS;
  let s3: SharedS3Config | undefined;
  for (const [k, v] of Object.entries(value)) {
    if (k === 'timeoutMs') {
      if (typeof v === 'number' && Number.isInteger(v) && v > 0 && v <= 60_000) timeoutMs = v;
      else problems.push('shared.timeoutMs: expected an integer of milliseconds between 1 and 60000');
    } else if (k === 's3') s3 = parseS3(v, problems);
    else problems.push(`shared.${k}: unknown key`);
  }
  if (!s3) {
    if (!('s3' in value)) problems.push('shared.s3: missing');
    return undefined;
  }
  return { s3, timeoutMs };
}

function parseS3(value: unknown, problems: string[]): SharedS3Config | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push('shared.s3: expected an object');
    return undefined;
  }
  const s3: SharedS3Config = { endpoint: null, bucket: '', prefix: '', region: 'us-east-1', forcePathStyle: false };
  const before = problems.length;
  for (const [k, v] of Object.entries(value)) {
    switch (k) {
      case 'endpoint':
        if (typeof v === 'string' && /^https?:\/\/[^/]+\/?$/.test(v)) s3.endpoint = v.replace(/\/$/, '');
        else problems.push('shared.s3.endpoint: expected an http(s) URL with no path, such as "https://minio.example:9000"');
        break;
      case 'bucket':
        if (typeof v === 'string' && BUCKET_RE.test(v)) s3.bucket = v;
        else problems.push('shared.s3.bucket: expected a bucket name (3-63 lowercase letters, digits, dots, dashes)');
        break;
      case 'prefix':
        if (typeof v === 'string' && !v.startsWith('/') && !v.includes('..')) s3.prefix = v === '' || v.endsWith('/') ? v : `${v}/`;
        else problems.push('shared.s3.prefix: expected a key prefix such as "pipcache/" (no leading slash)');
        break;
      case 'region':
        if (typeof v === 'string' && /^[a-z0-9-]+$/.test(v)) s3.region = v;
        else problems.push('shared.s3.region: expected a region name such as "us-east-1"');
        break;
      case 'forcePathStyle':
        if (typeof v === 'boolean') s3.forcePathStyle = v;
        else problems.push('shared.s3.forcePathStyle: expected true or false');
        break;
      case 'accessKeyId':
      case 'secretAccessKey':
      case 'sessionToken':
      case 'credentials':
        problems.push(`shared.s3.${k}: credentials are not read from config.json; set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE for the daemon`);
        break;
      default:
        problems.push(`shared.s3.${k}: unknown key`);
    }
  }
  if (!('bucket' in value)) problems.push('shared.s3.bucket: missing');
  return problems.length === before ? s3 : undefined;
}
