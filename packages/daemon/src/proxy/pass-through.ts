import type { UpstreamClient } from '../upstream/client.js';
import { writeHead, type RequestContext } from './context.js';
import { answerError } from './answer-error.js';
import { writable } from './send.js';

/** RFC 9110 7.6.1 hop-by-hop fields, plus proxy credentials meant for us. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);

export function forwardableHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  const connectionTokens = new Set(
    String(raw.connection ?? '')
      .split(',')
      .map((t) => t.trim().toLowerCase()),
  );
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined || HOP_BY_HOP.has(name) || connectionTokens.has(name)) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/**
 * Relays a request upstream and streams the answer back, caching nothing.
 * The upstream client asks the gate first; a refusal (offline, not a
 * configured index) is answered as one for this kind of request.
 */
export async function passThrough(
  ctx: RequestContext,
  upstream: UpstreamClient,
  kind: 'page' | 'file' = 'file',
  /** The index's own headers (its Authorization), unless the client sent its own. */
  indexHeaders: Record<string, string> = {},
  /**
   * `drop`: the client's Authorization was meant for this daemon (index
   * mode: its token), never for upstream; only the index's own goes there.
   */
  clientAuthorization: 'forward' | 'drop' = 'forward',
): Promise<void> {
  const { req, res } = ctx;
  const fromClient = forwardableHeaders(req.headers);
  if (clientAuthorization === 'drop') delete fromClient.authorization;
  ctx.outcome = ctx.outcome === 'miss' ? 'miss' : 'bypass';
  const method = req.method ?? 'GET';
  let up;
  try {
    up = await upstream.request(ctx.url.href, {
      kind,
      method,
      headers: { ...indexHeaders, ...fromClient },
      ...(method !== 'GET' && method !== 'HEAD' ? { body: req } : {}),
    });
  } catch (err) {
    answerError(ctx, err, { kind });
    return;
  }
  const headers = forwardableHeaders(up.headers);
  writeHead(ctx, up.status, headers);
  try {
    for await (const chunk of up.body) {
      ctx.fromUpstream += (chunk as Buffer).length;
      // A client gone while its socket was full never drains: closing ends the wait too.
      if (!res.write(chunk)) await writable(res);
      if (res.destroyed) break;
    }
    res.end();
  } catch (err) {
    ctx.reason = (err as Error).message;
    res.destroy(err as Error);
  }
}
