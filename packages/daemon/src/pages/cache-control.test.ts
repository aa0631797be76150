import { describe, expect, it } from 'vitest';
import { maxAgeOf } from './cache-control.js';

describe('maxAgeOf', () => {
  it('reads max-age and prefers s-maxage', () => {
    expect(maxAgeOf('max-age=600, public')).toBe(600);
    expect(maxAgeOf('public, s-maxage=60, max-age=600')).toBe(60);
    expect(maxAgeOf('max-age="30"')).toBe(30);
  });
  it('treats no-cache and no-store as stale at once', () => {
    expect(maxAgeOf('no-cache')).toBe(0);
    expect(maxAgeOf('max-age=600, no-store')).toBe(0);
  });
  it('returns null when there is nothing usable', () => {
    expect(maxAgeOf(undefined)).toBeNull();
    expect(maxAgeOf('public')).toBeNull();
    expect(maxAgeOf('max-age=abc')).toBeNull();
  });
});
