/**
 * The PEP 508 marker environment of a target (python version + wheel
 * platform tag), derived without running the target interpreter.
 */
import { PipcacheError } from '@pipcache/shared';
import type { MarkerEnv } from './markers.js';

export interface PlatformInfo {
  os_name: string;
  sys_platform: string;
  platform_system: string;
  platform_machine: string;
}

const LINUX_RE = /^(?:manylinux1|manylinux2010|manylinux2014|manylinux_\d+_\d+|musllinux_\d+_\d+|linux)_(.+)$/;
const MACOS_RE = /^macosx_\d+_\d+_(.+)$/;

/**
 * Maps a wheel platform tag to the marker variables that describe a machine
 * of that platform. Throws E_USAGE for tags it does not know.
 */
export function platformInfo(platform: string): PlatformInfo {
  const linux = LINUX_RE.exec(platform);
  if (linux !== null) {
    return { os_name: 'posix', sys_platform: 'linux', platform_system: 'Linux', platform_machine: linux[1] as string };
  }
  const mac = MACOS_RE.exec(platform);
  if (mac !== null) {
    const arch = mac[1] as string;
    // A universal2 wheel runs natively on both; pick the current hardware.
    const machine = arch === 'universal2' || arch === 'universal' ? 'arm64' : arch === 'intel' ? 'x86_64' : arch;
    return { os_name: 'posix', sys_platform: 'darwin', platform_system: 'Darwin', platform_machine: machine };
  }
  const win: Record<string, string> = { win_amd64: 'AMD64', win32: 'x86', win_arm64: 'ARM64' };
  const winMachine = win[platform];
  if (winMachine !== undefined) {
    return { os_name: 'nt', sys_platform: 'win32', platform_system: 'Windows', platform_machine: winMachine };
  }
  throw new PipcacheError(
    'E_USAGE',
    `unknown platform tag '${platform}' (expected e.g. manylinux2014_x86_64, linux_aarch64, musllinux_1_2_x86_64, macosx_11_0_arm64, win_amd64)`,
  );
}

/** Splits '3.11' / '3.11.7' into major, minor, full ('3.11' -> '3.11.0'). Throws E_USAGE on anything else. */
export function parsePythonVersion(v: string): { major: number; minor: number; short: string; full: string } {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?$/.exec(v.trim());
  if (m === null) {
    throw new PipcacheError('E_USAGE', `invalid python version '${v}' (expected MAJOR.MINOR or MAJOR.MINOR.MICRO, e.g. 3.11)`);
  }
  const major = Number(m[1]);
  const minor = Number(m[2]);
  const micro = m[3] === undefined ? 0 : Number(m[3]);
  return { major, minor, short: `${major}.${minor}`, full: `${major}.${minor}.${micro}` };
}

/**
 * The marker environment of a target. `platform` defaults to linux x86_64,
 * `implementation` to CPython. `platform_release` / `platform_version` are
 * unknowable from a tag and are ''.
 */
export function markerEnvFor(target: { pythonVersion: string; platform?: string; implementation?: 'cp' | 'pp' }): MarkerEnv {
  const py = parsePythonVersion(target.pythonVersion);
  const plat = platformInfo(target.platform ?? 'linux_x86_64');
  const pypy = target.implementation === 'pp';
  return {
    python_version: py.short,
    python_full_version: py.full,
    ...plat,
    platform_release: '',
    platform_version: '',
    platform_python_implementation: pypy ? 'PyPy' : 'CPython',
    implementation_name: pypy ? 'pypy' : 'cpython',
    // PyPy's own version is unknowable from the python version; 7.3 has been current for years.
    implementation_version: pypy ? '7.3.0' : py.full,
  };
}
