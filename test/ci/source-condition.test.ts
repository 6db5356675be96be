// A fresh clone has no dist/: every place that runs TypeScript sources through
// tsx outside vitest (.ci/run, the root scripts) must ask for the @fle/source
// export condition, or @fle/* resolve to dist/ files that do not exist (one
// fresh-clone .ci/run failed that way while every test passed in a built tree).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

function tsxRuns(text: string): string[] {
  return text.split('\n').filter((line) => /\btsx\b/.test(line) && /(npx tsx|--import tsx|^\s*"\w[\w:-]*":\s*"tsx )/.test(line) && !line.trim().startsWith('#'));
}

describe('tsx runs from sources', () => {
  it('.ci/run and the root package.json scripts pass --conditions=@fle/source', () => {
    const ci = tsxRuns(readFileSync(`${REPO}.ci/run`, 'utf8'));
    const scripts = Object.values((JSON.parse(readFileSync(`${REPO}package.json`, 'utf8')) as { scripts: Record<string, string> }).scripts).filter((s) => /\btsx\b/.test(s));
    expect(ci.length).toBeGreaterThan(0);
    expect(scripts.length).toBeGreaterThan(0);
    for (const line of [...ci, ...scripts]) expect(line, line).toContain('--conditions=@fle/source');
  });
});
