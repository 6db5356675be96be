// Shared by the deploy tests: where the repository and its deploy/ folder are,
// and small readers for the files they check. No Docker engine is needed.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, parse as parseYaml } from 'yaml';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const deployDir = join(repoRoot, 'deploy');

export function repoPath(...parts: string[]): string {
  return join(repoRoot, ...parts);
}

export function readText(path: string): string {
  return readFileSync(path, 'utf8');
}

/** One YAML document; `merge` enables `<<:` merge keys as Docker Compose reads them. */
export function readYaml<T = unknown>(path: string): T {
  return parseYaml(readText(path), { merge: true, prettyErrors: true }) as T;
}

/** Every document of a multi-document YAML file; a syntax error in any of them throws. */
export function readYamlDocuments(path: string): unknown[] {
  const docs = parseAllDocuments(readText(path), { prettyErrors: true });
  const list = Array.isArray(docs) ? docs : [docs];
  return list.map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${relative(repoRoot, path)}: ${doc.errors[0]!.message}`);
    return doc.toJS() as unknown;
  });
}

/** Files under `dir` (recursively) whose names end with one of `suffixes`. */
export function listFiles(dir: string, suffixes: readonly string[]): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(p, suffixes));
    else if (suffixes.some((s) => entry.name.endsWith(s))) out.push(p);
  }
  return out.sort();
}

/** The workspace folders npm sees (root package.json `workspaces` globs of the form `dir/*`). */
export function workspaceDirs(): string[] {
  const pkg = JSON.parse(readText(repoPath('package.json'))) as { workspaces: string[] };
  const dirs: string[] = [];
  for (const glob of pkg.workspaces) {
    if (!glob.endsWith('/*')) throw new Error(`unsupported workspace glob ${glob}`);
    const parent = glob.slice(0, -2);
    for (const entry of readdirSync(repoPath(parent), { withFileTypes: true })) {
      if (entry.isDirectory() && existsSync(repoPath(parent, entry.name, 'package.json'))) dirs.push(`${parent}/${entry.name}`);
    }
  }
  return dirs.sort();
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
