/** max-age from a Cache-Control header (RFC 9111 5.2.2.1), or null. */
export function maxAgeOf(cacheControl: string | undefined): number | null {
  if (!cacheControl) return null;
  let maxAge: number | null = null;
  for (const part of cacheControl.split(',')) {
    const [name, value] = part.trim().split('=', 2);
    const key = name?.trim().toLowerCase();
    if (key === 'no-store' || key === 'no-cache') return 0;
    if (key === 's-maxage' || (key === 'max-age' && maxAge === null)) {
      const n = Number(value?.trim().replace(/^"|"$/g, ''));
      if (Number.isFinite(n) && n >= 0) maxAge = n;
    }
  }
  return maxAge;
}
