/**
 * Wheel compatibility tags a target interpreter accepts, after
 * `packaging.tags` (cpython_tags / generic_tags + compatible_tags, with
 * `_linux_platforms` / `mac_platforms` expansion of platform tags).
 */
import { PipcacheError } from '@pipcache/shared';
import { parsePythonVersion } from './marker-env.js';

export interface Target {
  /** '3.11' or '3.11.7'. */
  pythonVersion: string;
  /** Wheel platform tags; empty = DEFAULT_PLATFORM (linux x86_64, glibc 2.36). */
  platforms: string[];
  implementation: 'cp' | 'pp';
}

/** What pip on linux x86_64 with glibc 2.36 accepts (expanded by platformTags). */
export const DEFAULT_PLATFORM = 'manylinux_2_36_x86_64';

/** PyPy ABI suffix: PyPy 7.3.x has served every PyPy 3.x for years. */
const PYPY_ABI_SUFFIX = 'pp73';

const LEGACY_MANYLINUX: Readonly<Record<string, [number, number]>> = {
  manylinux1: [2, 5],
  manylinux2010: [2, 12],
  manylinux2014: [2, 17],
};

/** manylinux_2_x tags an arch can have: x86_64 / i686 go back to glibc 2.5, others start at 2.17. */
function manylinuxTags(glibcMinor: number, arch: string): string[] {
  const floor = arch === 'x86_64' || arch === 'i686' ? 5 : 17;
  const out: string[] = [];
  for (let minor = glibcMinor; minor >= floor; minor--) {
    out.push(`manylinux_2_${minor}_${arch}`);
    // Legacy aliases (PEP 600), only for the arches they were defined for.
    if (minor === 17 && ['x86_64', 'i686', 'aarch64', 'armv7l', 'ppc64', 'ppc64le', 's390x'].includes(arch)) {
      out.push(`manylinux2014_${arch}`);
    }
    if (minor === 12 && (arch === 'x86_64' || arch === 'i686')) out.push(`manylinux2010_${arch}`);
    if (minor === 5 && (arch === 'x86_64' || arch === 'i686')) out.push(`manylinux1_${arch}`);
  }
  return out;
}

function macBinaryFormats(major: number, minor: number, arch: string): string[] {
  const before = (a: number, b: number): boolean => major < a || (major === a && minor < b);
  const formats = [arch];
  if (arch === 'x86_64') {
    if (before(10, 4)) return [];
    formats.push('intel', 'fat64', 'fat32');
  } else if (arch === 'i386') {
    if (before(10, 4)) return [];
    formats.push('intel', 'fat32', 'fat');
  } else if (arch === 'ppc64') {
    if (!before(10, 6) || before(10, 4)) return [];
    formats.push('fat64');
  } else if (arch === 'ppc') {
    if (!before(10, 7)) return [];
    formats.push('fat32', 'fat');
  }
  if (arch === 'arm64' || arch === 'x86_64') formats.push('universal2');
  if (['x86_64', 'i386', 'ppc64', 'ppc', 'intel'].includes(arch)) formats.push('universal');
  return formats;
}

/** packaging.tags.mac_platforms(version, arch). */
function macPlatforms(major: number, minor: number, arch: string): string[] {
  const out: string[] = [];
  if (major === 10) {
    for (let m = minor; m >= 0; m--) {
      for (const f of macBinaryFormats(10, m, arch)) out.push(`macosx_10_${m}_${f}`);
    }
  }
  if (major >= 11) {
    for (let M = major; M > 10; M--) {
      for (const f of macBinaryFormats(M, 0, arch)) out.push(`macosx_${M}_0_${f}`);
    }
    for (let m = 16; m > 3; m--) {
      if (arch === 'x86_64') {
        for (const f of macBinaryFormats(10, m, arch)) out.push(`macosx_10_${m}_${f}`);
      } else {
        out.push(`macosx_10_${m}_universal2`);
      }
    }
  }
  return out;
}

/**
 * Every platform tag a machine described by `platform` accepts: manylinux
 * tags expand down to the oldest glibc (with legacy aliases) plus
 * `linux_<arch>`; musllinux likewise; macOS down to older releases and
 * compatible binary formats; anything else is taken as is.
 */
export function platformTags(platform: string): string[] {
  const legacy = /^(manylinux1|manylinux2010|manylinux2014)_(.+)$/.exec(platform);
  if (legacy !== null) {
    const [, minor] = LEGACY_MANYLINUX[legacy[1] as string] as [number, number];
    const arch = legacy[2] as string;
    return [...manylinuxTags(minor, arch), `linux_${arch}`];
  }
  const many = /^manylinux_(\d+)_(\d+)_(.+)$/.exec(platform);
  if (many !== null) {
    const arch = many[3] as string;
    if (many[1] !== '2') return [platform, `linux_${arch}`];
    return [...manylinuxTags(Number(many[2]), arch), `linux_${arch}`];
  }
  const musl = /^musllinux_(\d+)_(\d+)_(.+)$/.exec(platform);
  if (musl !== null) {
    const arch = musl[3] as string;
    const out: string[] = [];
    if (musl[1] === '1') for (let m = Number(musl[2]); m >= 0; m--) out.push(`musllinux_1_${m}_${arch}`);
    else out.push(platform);
    return [...out, `linux_${arch}`];
  }
  const mac = /^macosx_(\d+)_(\d+)_(.+)$/.exec(platform);
  if (mac !== null) return macPlatforms(Number(mac[1]), Number(mac[2]), mac[3] as string);
  if (!/^[a-z0-9_]+$/.test(platform)) {
    throw new PipcacheError('E_USAGE', `invalid platform tag '${platform}'`);
  }
  return [platform];
}

/** packaging's _py_interpreter_range: py311, py3, py310, ..., py30. */
function pyInterpreterRange(major: number, minor: number): string[] {
  const out = [`py${major}${minor}`, `py${major}`];
  for (let m = minor - 1; m >= 0; m--) out.push(`py${major}${m}`);
  return out;
}

/** The set of `python-abi-platform` tag strings the target accepts. */
export function supportedTags(target: Target): Set<string> {
  const { major, minor } = parsePythonVersion(target.pythonVersion);
  const requested = target.platforms.length === 0 ? [DEFAULT_PLATFORM] : target.platforms;
  const platforms = [...new Set(requested.flatMap(platformTags))];
  const tags = new Set<string>();
  const add = (py: string, abi: string, plats: string[]): void => {
    for (const p of plats) tags.add(`${py}-${abi}-${p}`);
  };

  const interp = `${target.implementation}${major}${minor}`;
  if (target.implementation === 'cp') {
    // cpython_tags: the exact ABI (no 'm' suffix since 3.8), abi3, none; then older abi3.
    const abi = major === 3 && minor < 8 ? `cp${major}${minor}m` : `cp${major}${minor}`;
    add(interp, abi, platforms);
    const abi3 = major > 3 || (major === 3 && minor >= 2);
    if (abi3) add(interp, 'abi3', platforms);
    add(interp, 'none', platforms);
    if (abi3) {
      for (let m = minor - 1; m >= 2; m--) add(`cp${major}${m}`, 'abi3', platforms);
    }
  } else {
    // generic_tags for PyPy.
    add(interp, `pypy${major}${minor}_${PYPY_ABI_SUFFIX}`, platforms);
    add(interp, 'none', platforms);
  }
  // compatible_tags
  for (const py of pyInterpreterRange(major, minor)) add(py, 'none', platforms);
  tags.add(`${interp}-none-any`);
  for (const py of pyInterpreterRange(major, minor)) tags.add(`${py}-none-any`);
  return tags;
}

/** True when some python × abi × platform combination of the wheel is supported. */
export function wheelMatches(tags: { python: string[]; abi: string[]; platform: string[] }, supported: Set<string>): boolean {
  for (const py of tags.python) {
    for (const abi of tags.abi) {
      for (const plat of tags.platform) {
        if (supported.has(`${py.toLowerCase()}-${abi.toLowerCase()}-${plat.toLowerCase()}`)) return true;
      }
    }
  }
  return false;
}
