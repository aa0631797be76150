import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { PipcacheError, type ExportTarget } from '@pipcache/shared';

const run = promisify(execFile);

/** Asks an interpreter for its PEP 508 environment and, via pip's vendored packaging, its wheel tags. */
const PROBE = `
import json, os, platform, sys
def impl_version():
    v = sys.implementation.version
    s = "%d.%d.%d" % (v.major, v.minor, v.micro)
    if v.releaselevel != "final":
        s += v.releaselevel[0] + str(v.serial)
    return s
env = {
    "implementation_name": sys.implementation.name,
    "implementation_version": impl_version(),
    "os_name": os.name,
    "platform_machine": platform.machine(),
    "platform_release": platform.release(),
    "platform_system": platform.system(),
    "platform_version": platform.version(),
    "python_full_version": platform.python_version(),
    "platform_python_implementation": platform.python_implementation(),
    "python_version": ".".join(platform.python_version_tuple()[:2]),
    "sys_platform": sys.platform,
}
tags = None
try:
    from pip._vendor.packaging import tags as t
    tags = [str(x) for x in t.sys_tags()]
except Exception:
    pass
print(json.dumps({"env": env, "tags": tags}))
`;

/** The export target: given explicitly, or the `python3` on PATH (or the interpreter named). */
export async function resolveTarget(opts: { pythonVersion?: string; platforms: string[]; python?: string }): Promise<ExportTarget> {
  if (opts.pythonVersion || opts.platforms.length > 0) {
    let version = opts.pythonVersion;
    if (!version) version = (await probe(opts.python ?? 'python3')).env.python_version;
    if (!/^\d+\.\d+(\.\d+)?$/.test(version ?? '')) throw new PipcacheError('E_USAGE', `--python-version: expected X.Y or X.Y.Z, got ${version}`);
    return { pythonVersion: version as string, platforms: opts.platforms };
  }
  const p = await probe(opts.python ?? 'python3');
  return { pythonVersion: p.env.python_full_version ?? '3', platforms: [], markerEnv: p.env, ...(p.tags ? { tags: p.tags } : {}) };
}

async function probe(python: string): Promise<{ env: Record<string, string>; tags: string[] | null }> {
  try {
    const { stdout } = await run(python, ['-c', PROBE], { timeout: 30_000 });
    return JSON.parse(stdout) as { env: Record<string, string>; tags: string[] | null };
  } catch (err) {
    throw new PipcacheError('E_USAGE', `cannot ask ${python} for its environment (${(err as Error).message.split('\n')[0]}); pass --python-version and --platform`, {
      cause: err,
    });
  }
}
