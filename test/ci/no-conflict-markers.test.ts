// A merge that left conflict markers in a tracked file (it happened once, in a
// README) fails here rather than reaching a user.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../..', import.meta.url));

describe('tracked files', () => {
  it('hold no merge conflict markers', () => {
    let out = '';
    try {
      // -I: text files only; the lock file's own lines never start with these.
      out = execFileSync('git', ['grep', '-n', '-I', '-E', '^(<<<<<<< |>>>>>>> |=======$)', '--', '.', ':!package-lock.json'], { cwd: repo, encoding: 'utf8' });
    } catch (err) {
      if ((err as { status?: number }).status !== 1) throw err; // 1 = nothing found
    }
    expect(out.split('\n').filter((line) => line && !/\.md:\d+:=======$/.test(line))).toEqual([]);
  });
});
