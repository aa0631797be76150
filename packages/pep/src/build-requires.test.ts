import { describe, expect, it } from 'vitest';
import { PipcacheError } from '@pipcache/shared';
import { LEGACY_BUILD_REQUIRES, parseBuildRequires } from './build-requires.js';

describe('parseBuildRequires', () => {
  it('reads [build-system].requires, or the legacy pair without the table', () => {
    expect(parseBuildRequires('[build-system]\nrequires = ["flit_core>=3.2", "x"]\n', 'a.tar.gz')).toEqual(['flit_core>=3.2', 'x']);
    expect(parseBuildRequires('[project]\nname = "a"\n', 'a.tar.gz')).toEqual(LEGACY_BUILD_REQUIRES);
  });
  it('reports text that does not parse and requires that is not a list of strings', () => {
    const err = (text: string): PipcacheError => {
      try {
        parseBuildRequires(text, 'a-1.0.tar.gz');
      } catch (e) {
        return e as PipcacheError;
      }
      throw new Error('parsed');
    };
    expect(err('[build-system').message).toMatch(/^a-1\.0\.tar\.gz: pyproject\.toml does not parse/);
    expect(err('[build-system]\nrequires = "setuptools"\n').code).toBe('E_BAD_REQUEST');
    expect(err('[build-system]\nrequires = [1]\n').message).toMatch(/must be a list of strings/);
  });
});
