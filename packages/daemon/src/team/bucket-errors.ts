/**
 * Bucket failures described without the AWS SDK: importing it costs a
 * daemon ~27 MB and half a second of start-up, so only a daemon with a
 * team tier loads it (open-team.ts).
 */

/** The shape of the SDK's service exceptions (S3ServiceException). */
interface ServiceError {
  name: string;
  message: string;
  $metadata: { httpStatusCode?: number };
}

function isServiceError(err: unknown): err is ServiceError {
  return typeof err === 'object' && err !== null && typeof (err as { $metadata?: unknown }).$metadata === 'object' && (err as { $metadata?: unknown }).$metadata !== null;
}

/** A short, credential-free description of a bucket failure for the log and status. */
export function describeError(err: unknown): string {
  if (isServiceError(err)) return `${err.name} (HTTP ${err.$metadata.httpStatusCode ?? '?'}): ${err.message}`;
  const e = err as Error & { code?: string };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'no answer within shared.timeoutMs';
  return `${e.code ?? e.name}: ${e.message}`;
}
