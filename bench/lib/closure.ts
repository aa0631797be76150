/** The 50-wheel closure the install benchmarks use: `exportapp` and 49 dependencies (~12 MiB). */
import type { PackageSpec } from '../../test/fixtures/packages.js';

export const CLOSURE_ROOT = 'exportapp';
const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * `exportapp` + 49 dependencies (50 wheels). The root names 28 of them directly;
 * the other 21 are reached only through chains (chain-a1 -> ... -> a6, b1 -> ... -> b4,
 * c1 -> ... -> c5), a diamond (shape-x and shape-y share shape-base) and four
 * libraries that each pull in two private leaves. Payloads are deterministic: small ones
 * spread over 20-200 KiB, four large ones of 1, 1.5, 2 and 3 MiB.
 */
export function closureSpecs(): PackageSpec[] {
  let n = 0;
  const small = (): number => {
    n += 1;
    return (20 + ((n * 37) % 10) * 20) * KiB; // 20, 40, ... 200 KiB
  };
  const out: PackageSpec[] = [];
  const pkg = (name: string, payloadBytes: number, requires: string[] = []): string => {
    out.push({ name, version: '1.0.0', requires: requires.map((r) => `${r}>=1.0`), payloadBytes, kind: 'wheel' });
    return name;
  };
  const chain = (prefix: string, length: number, sizes: (i: number) => number): string => {
    let next: string | undefined;
    for (let i = length; i >= 1; i--) next = pkg(`${prefix}${i}`, sizes(i), next ? [next] : []);
    return next!;
  };
  const direct: string[] = [];
  // Chains: only their heads are named by the root (12 transitive).
  direct.push(chain('chain-a', 6, (i) => (i === 4 ? 2 * MiB : small())));
  direct.push(chain('chain-b', 4, () => small()));
  direct.push(chain('chain-c', 5, (i) => (i === 5 ? 1 * MiB : small())));
  // Diamond: shape-base only transitively.
  const base = pkg('shape-base', 3 * MiB);
  direct.push(pkg('shape-x', small(), [base]), pkg('shape-y', small(), [base]));
  // Libraries with private leaves (8 transitive leaves).
  for (const lib of ['netio', 'fmtkit', 'clitool', 'dbkit']) {
    const leaves = [pkg(`${lib}-core`, small()), pkg(`${lib}-extras`, lib === 'fmtkit' ? 1.5 * MiB : small())];
    direct.push(pkg(lib, small(), leaves));
  }
  // Plain leaves named by the root, until 49 dependencies in all.
  let leaf = 0;
  while (out.length < 49) {
    leaf += 1;
    direct.push(pkg(`leaf-${String(leaf).padStart(2, '0')}`, small()));
  }
  out.unshift({ name: CLOSURE_ROOT, version: '1.0.0', requires: direct.map((d) => `${d}>=1.0`), payloadBytes: 4 * KiB, kind: 'wheel' });
  return out;
}
