import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import type { Reporter, SerializedError, TestCase, TestModule, TestRunEndReason, TestSuite } from 'vitest/node';

/** What `.ci/run` prints: counts, and by name every test that failed or did not run. */
export interface CiSummary {
  passed: number;
  failed: number;
  skipped: number;
  failures: string[];
  skips: string[];
  reason: TestRunEndReason;
}

/**
 * Writes a CiSummary to `outputFile` at the end of the run. A test that did
 * not run because a hook or the import of its file failed is counted as
 * failed, not skipped (vitest reports such tests as skipped); a file that
 * failed before any test was collected counts as one failure.
 */
export default class CiSummaryReporter implements Reporter {
  constructor(private readonly options: { outputFile: string }) {}

  onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandled: ReadonlyArray<SerializedError>, reason: TestRunEndReason): void {
    const s: CiSummary = { passed: 0, failed: 0, skipped: 0, failures: [], skips: [], reason };
    for (const m of modules) {
      const file = relative(process.cwd(), m.moduleId);
      const tests = [...m.children.allTests()];
      if (tests.length === 0 && m.errors().length > 0) {
        s.failed += 1;
        s.failures.push(`${file}: ${firstLine(m.errors())}`);
      }
      for (const t of tests) {
        const name = `${file} > ${t.fullName}`;
        const r = t.result();
        if (r.state === 'passed') {
          s.passed += 1;
        } else if (r.state === 'failed') {
          s.failed += 1;
          s.failures.push(name);
        } else if (r.state === 'pending') {
          // Still pending at the end of the run: it was interrupted or never reached.
          s.failed += 1;
          s.failures.push(`${name} (did not finish)`);
        } else {
          const broken = brokenAncestor(t);
          if (broken) {
            s.failed += 1;
            s.failures.push(`${name} (did not run: ${broken})`);
          } else {
            s.skipped += 1;
            s.skips.push(`${name} (${t.options.mode === 'todo' ? 'todo' : 'skipped'}${r.note ? `: ${r.note}` : ''})`);
          }
        }
      }
    }
    for (const e of unhandled) {
      s.failed += 1;
      s.failures.push(`unhandled error: ${firstLine([e])}`);
    }
    writeFileSync(this.options.outputFile, JSON.stringify(s, null, 2));
  }
}

/** The error of the nearest suite or file whose own hooks (or import) failed, if any. */
function brokenAncestor(t: TestCase): string | null {
  let parent: TestSuite | TestModule = t.parent;
  for (;;) {
    if (parent.errors().length > 0) return firstLine(parent.errors());
    if (parent.type === 'module') return null;
    parent = parent.parent;
  }
}

function firstLine(errors: ReadonlyArray<SerializedError>): string {
  const e = errors[0];
  return (e?.message ?? String(e)).split('\n')[0] ?? '';
}
