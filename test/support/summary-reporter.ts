// Prints one plain closing line, "N passed, N failed[, N skipped]", after the
// default reporter's output, so any CI can read the result without parsing
// vitest's coloured summary.
//
// "failed" counts every failure vitest fails the run for, not only failed
// tests: a hook that throws (beforeAll/afterAll of a file or a describe
// block; vitest then skips the tests under it), a file that does not load,
// and errors vitest caught outside any test. Each such hook, file or error
// counts once, and is named on its own line above the summary.
import type { Reporter, SerializedError, TestModule, TestSuite } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<SerializedError> = []): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const notes: string[] = [];
    for (const mod of testModules) {
      for (const test of mod.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else skipped++;
      }
      // Errors that belong to the file or a suite, not to a test: a throwing
      // hook, or the file failing to load.
      const owners: Array<TestModule | TestSuite> = [mod, ...mod.children.allSuites()];
      let ownErrors = 0;
      for (const owner of owners) {
        if (owner.errors().length === 0) continue;
        ownErrors++;
        const where = owner.type === 'module' ? owner.moduleId : `${mod.moduleId} > ${owner.fullName}`;
        notes.push(`failed outside a test: ${where}: ${firstLine(owner.errors()[0])}`);
      }
      failed += ownErrors;
      // A file vitest failed for a reason neither a test nor a hook carries.
      if (mod.state() === 'failed' && ownErrors === 0 && ![...mod.children.allTests()].some((t) => t.result().state === 'failed')) {
        failed++;
        notes.push(`failed outside a test: ${mod.moduleId}`);
      }
    }
    for (const e of unhandledErrors) notes.push(`unhandled error: ${firstLine(e)}`);
    failed += unhandledErrors.length;
    const lines = [...notes, `tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`];
    process.stdout.write(`\n${lines.join('\n')}\n`);
  }
}

function firstLine(e: SerializedError | undefined): string {
  return (e?.message ?? String(e)).split('\n')[0]!;
}
