// Every workspace follows the package checklist of docs/packages.md, so a
// package added later is built, typed and packable with the same few lines:
// exports give "@fle/source" (repository), types and import (dist); internal
// dependencies by version range and complete; tsconfig.build.json references
// exactly the @fle/* packages its sources import; public packages carry a
// license, a LICENSE file and a `files` list.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, workspaces, type Workspace } from './support/packs.js';

const SOURCE = '@fle/source';

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** @fle/* packages the workspace's src/ imports (static and dynamic, types included). */
function importedPackages(w: Workspace): string[] {
  const found = new Set<string>();
  for (const file of sourceFiles(join(REPO_ROOT, w.dir, 'src'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(/(?:from\s+|import\s*\(\s*)'(@fle\/[a-z0-9-]+)/g)) found.add(m[1]!);
  }
  found.delete(w.name);
  return [...found].sort();
}

interface Tsconfig {
  references?: Array<{ path: string }>;
  compilerOptions?: Record<string, unknown>;
}

const all = workspaces();
const byDir = new Map(all.map((w) => [w.dir, w]));

describe.each(all.map((w) => [w.name, w] as const))('%s', (_name, w) => {
  const pkg = w.manifest as Workspace['manifest'] & { exports: Record<string, Record<string, unknown>>; files?: string[]; license?: string };

  it('exports: "@fle/source" first (the TypeScript source), then types and import in dist/', () => {
    for (const [sub, target] of Object.entries(pkg.exports)) {
      const conditions = Object.keys(target);
      if (sub === './fle-browser.mjs') continue; // a built file only
      const flat = conditions.filter((c) => c !== 'browser'); // where bundlers for the web look first
      expect(flat.slice(0, 3), `${sub}`).toEqual([SOURCE, 'types', 'import']);
      const src = target[SOURCE] as string;
      if (!src.includes('*')) expect(existsSync(join(REPO_ROOT, w.dir, src)), `${sub} -> ${src}`).toBe(true);
      expect(target['types'], sub).toMatch(/^\.\/dist\/.*\.d\.ts$/);
      expect(target['import'], sub).toMatch(/^\.\/dist\/.*\.js$/);
    }
  });

  it('depends on every @fle/* package its sources import, by version range', () => {
    const declared = { ...pkg.dependencies, ...pkg.peerDependencies };
    expect(importedPackages(w).filter((n) => declared[n] === undefined)).toEqual([]);
    for (const field of ['dependencies', 'devDependencies', 'peerDependencies'] as const) {
      const deps = (pkg as Record<string, Record<string, string> | undefined>)[field] ?? {};
      expect(Object.entries(deps).filter(([n, r]) => n.startsWith('@fle/') && !/^\^\d+\.\d+\.\d+$/.test(r)), field).toEqual([]);
    }
  });

  it('tsconfig.build.json builds src/ to dist/ and references the @fle/* packages its sources import', () => {
    const cfg = JSON.parse(readFileSync(join(REPO_ROOT, w.dir, 'tsconfig.build.json'), 'utf8')) as Tsconfig;
    expect(cfg.compilerOptions).toMatchObject({ rootDir: 'src', outDir: 'dist' });
    const refs = (cfg.references ?? []).map((r) => byDir.get(join(w.dir, r.path).replace(/\/tsconfig\.build\.json$/, ''))?.name ?? r.path).sort();
    expect(refs).toEqual(importedPackages(w));
  });
});

describe.each(all.filter((w) => w.manifest.private !== true).map((w) => [w.name, w] as const))('%s (public)', (_name, w) => {
  const pkg = w.manifest as Workspace['manifest'] & { files?: string[]; license?: string };

  it('license, LICENSE file, files limited to what runs, no private dependency', () => {
    expect(pkg.license).toBe('Apache-2.0');
    expect(existsSync(join(REPO_ROOT, w.dir, 'LICENSE'))).toBe(true);
    expect(pkg.files).toBeDefined();
    expect(pkg.files!.filter((f) => !['dist', 'proto', 'bin/fle.mjs'].includes(f))).toEqual([]);
    const priv = new Set(all.filter((x) => x.manifest.private).map((x) => x.name));
    expect(Object.keys(pkg.dependencies ?? {}).filter((n) => priv.has(n))).toEqual([]);
    const peers = pkg.peerDependencies ?? {};
    expect(Object.keys(peers).filter((n) => priv.has(n) && !pkg.peerDependenciesMeta?.[n]?.optional)).toEqual([]);
  });
});

it('the root tsconfig.build.json builds every workspace', () => {
  const cfg = JSON.parse(readFileSync(join(REPO_ROOT, 'tsconfig.build.json'), 'utf8')) as Tsconfig;
  expect(cfg.references!.map((r) => r.path.replace(/^\.\//, '').replace(/\/tsconfig\.build\.json$/, '')).sort()).toEqual(all.map((w) => w.dir).sort());
});
