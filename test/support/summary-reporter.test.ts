// The closing line of `npm test` ("N passed, N failed") must count every way
// a run can fail (issue 17 item 9): a failing test, a file that does not load,
// and a hook that throws (vitest then skips the tests under it, so counting
// tests alone printed "0 failed" for a run vitest itself failed). Each fixture
// in fixtures/summary runs in a real vitest child process with only this
// reporter, and the line it prints is checked against vitest's exit code.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const FIXTURES = fileURLToPath(new URL('./fixtures/summary/', import.meta.url));
const VITEST = fileURLToPath(new URL('../../node_modules/vitest/vitest.mjs', import.meta.url));

function runFixture(file: string): Promise<{ code: number; line: string; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [VITEST, 'run', '--root', FIXTURES, '--config', 'vitest.config.ts'],
      { env: { ...process.env, FLE_FIXTURE: file, NO_COLOR: '1' }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const output = `${stdout}\n${stderr}`;
        const line = /^tests: .*$/m.exec(stdout)?.[0] ?? '';
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, line, output });
      },
    );
  });
}

describe('summary reporter', () => {
  it('counts a failed top-level beforeAll as a failure (the tests it skipped stay skipped)', async () => {
    const r = await runFixture('hook-fails.fixture.ts');
    expect(r.code, r.output).toBe(1);
    expect(r.line).toBe('tests: 0 passed, 1 failed, 2 skipped');
  });

  it('counts a failed beforeAll inside a describe block as a failure', async () => {
    const r = await runFixture('suite-hook-fails.fixture.ts');
    expect(r.code, r.output).toBe(1);
    expect(r.line).toBe('tests: 1 passed, 1 failed, 1 skipped');
  });

  it('counts a file that fails to load as a failure', async () => {
    const r = await runFixture('import-fails.fixture.ts');
    expect(r.code, r.output).toBe(1);
    expect(r.line).toBe('tests: 0 passed, 1 failed');
  });

  it('reports a clean run as such (control)', async () => {
    const r = await runFixture('all-pass.fixture.ts');
    expect(r.code, r.output).toBe(0);
    expect(r.line).toBe('tests: 2 passed, 0 failed');
  });
});
