/**
 * PEP 518 build requirements: `[build-system].requires` of a pyproject.toml,
 * or what pip assumes without one.
 */
import { parse as parseToml } from 'smol-toml';
import { PipcacheError } from '@pipcache/shared';

/** pip's build requirements when a project has no [build-system] table (PEP 518). */
export const LEGACY_BUILD_REQUIRES = ['setuptools>=40.8.0', 'wheel'];

/**
 * The build requirements a pyproject.toml declares, or LEGACY_BUILD_REQUIRES
 * when it has no [build-system] table. `source` names the sdist in errors.
 * Throws E_BAD_REQUEST when the text does not parse or `requires` is not a
 * list of strings.
 */
export function parseBuildRequires(pyproject: string, source: string): string[] {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(pyproject) as Record<string, unknown>;
  } catch (err) {
    throw new PipcacheError('E_BAD_REQUEST', `${source}: pyproject.toml does not parse: ${(err as Error).message}`, { cause: err });
  }
  const table = doc['build-system'] as { requires?: unknown } | undefined;
  if (table === undefined) return LEGACY_BUILD_REQUIRES;
  const requires = table.requires;
  if (!Array.isArray(requires) || !requires.every((r) => typeof r === 'string')) {
    throw new PipcacheError('E_BAD_REQUEST', `${source}: [build-system].requires must be a list of strings`);
  }
  return requires as string[];
}
