/**
 * What a client can learn about each file from a simple page, in a form that
 * compares equal across PEP 503 HTML and PEP 691 JSON. Written independently
 * of the daemon's parsers so a test can check the daemon with it.
 */
export interface PageEntry {
  filename: string;
  /** Absolute URL, fragment removed. */
  url: string;
  sha256: string | null;
  requiresPython: string | null;
  /** null: not yanked; '' yanked without a reason (PEP 592). */
  yanked: string | null;
  /** null: no core metadata; 'true' offered without a hash; else its sha256 (PEP 658 / 714). */
  coreMetadata: string | null;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, ref: string) => {
    if (ref[0] === '#') {
      const code = ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      return String.fromCodePoint(code);
    }
    return ENTITIES[ref.toLowerCase()] ?? whole;
  });
}

function attributes(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/([\w:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
    out.set((m[1] as string).toLowerCase(), decodeEntities(m[2] ?? m[3] ?? ''));
  }
  return out;
}

function metadataValue(v: string | undefined): string | null {
  if (v === undefined || v === '' || v.toLowerCase() === 'false') return null;
  if (v.toLowerCase() === 'true') return 'true';
  const m = /^sha256=([0-9a-f]{64})$/i.exec(v);
  return m?.[1] ? m[1].toLowerCase() : 'true';
}

/** The anchors of a PEP 503 page (URLs resolved against `pageUrl`). */
export function htmlEntries(body: string, pageUrl: string): PageEntry[] {
  const out: PageEntry[] = [];
  for (const m of body.matchAll(/<a\s([^>]*)>([^<]*)<\/a>/gi)) {
    const attrs = attributes(m[1] as string);
    const href = attrs.get('href');
    if (href === undefined) throw new Error(`anchor without href in ${pageUrl}: ${m[0]}`);
    const url = new URL(href, pageUrl);
    const sha = /(?:^|&)sha256=([0-9a-f]{64})(?:&|$)/i.exec(url.hash.slice(1))?.[1];
    url.hash = '';
    out.push({
      filename: decodeEntities(m[2] as string).trim(),
      url: url.href,
      sha256: sha ? sha.toLowerCase() : null,
      requiresPython: attrs.get('data-requires-python') || null,
      yanked: attrs.get('data-yanked') ?? null,
      coreMetadata: metadataValue(attrs.get('data-core-metadata') ?? attrs.get('data-dist-info-metadata')),
    });
  }
  return out;
}

/** The files of a PEP 691 page (URLs resolved against `pageUrl`). */
export function jsonEntries(body: string, pageUrl: string): PageEntry[] {
  const doc = JSON.parse(body) as { files?: unknown };
  if (!Array.isArray(doc.files)) throw new Error(`no files array in ${pageUrl}`);
  return doc.files.map((raw: Record<string, unknown>) => {
    const hashes = (raw.hashes ?? {}) as Record<string, unknown>;
    const meta = raw['core-metadata'];
    const yanked = raw.yanked;
    const rp = raw['requires-python'];
    return {
      filename: String(raw.filename),
      url: new URL(String(raw.url), pageUrl).href,
      sha256: typeof hashes.sha256 === 'string' ? hashes.sha256.toLowerCase() : null,
      requiresPython: typeof rp === 'string' && rp !== '' ? rp : null,
      yanked: yanked === true ? '' : typeof yanked === 'string' ? yanked : null,
      coreMetadata:
        meta === true
          ? 'true'
          : typeof meta === 'object' && meta !== null
            ? typeof (meta as Record<string, unknown>).sha256 === 'string'
              ? ((meta as Record<string, string>).sha256 as string).toLowerCase()
              : 'true'
            : null,
    };
  });
}

export function pageEntries(body: string, contentType: string, pageUrl: string): PageEntry[] {
  return contentType.includes('json') ? jsonEntries(body, pageUrl) : htmlEntries(body, pageUrl);
}
