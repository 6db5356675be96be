// The portable entry (browsers) must not reach any Node built-in: only
// native-backend.ts may import node:*.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = join(dirname(fileURLToPath(import.meta.url)), '../src');

function importsOf(file: string): string[] {
  const text = readFileSync(join(src, file), 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm), ...text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]!);
}

function reachable(entry: string): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    const deps = importsOf(file);
    seen.set(file, deps);
    for (const dep of deps) if (dep.startsWith('./')) visit(dep.slice(2).replace(/\.js$/, '.ts'));
  };
  visit(entry);
  return seen;
}

describe('portable entry', () => {
  it('reaches no node: import and no Node-only package', () => {
    const graph = reachable('portable.ts');
    expect(graph.size).toBeGreaterThan(10);
    expect(graph.has('native-backend.ts')).toBe(false);
    const external = [...graph.values()].flat().filter((d) => !d.startsWith('./'));
    // Browser-safe packages only (pure JS / WebCrypto); libsodium (Node entry's fast backend) is not among them.
    const browserSafe = /^(@noble\/ciphers\/|@noble\/curves\/|@hpke\/|protobufjs$)/;
    expect(external.filter((d) => d.startsWith('node:') || !browserSafe.test(d))).toEqual([]);
  });

  it('the Node entry is what pulls in native-backend.ts', () => {
    expect(importsOf('native-backend.ts')).toContain('node:crypto');
    expect(reachable('mod.ts').has('native-backend.ts')).toBe(true);
  });
});
