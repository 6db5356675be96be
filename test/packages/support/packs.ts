// What a user installs: `npm run build`, then `npm pack` of every public
// workspace (every package.json without "private": true), and temporary
// projects OUTSIDE the repository that install those tarballs offline.
//
// Build + pack run once per source state and are shared by the test files that
// need them (outside-project, the Chromium test): a lock folder in the OS temp
// dir serialises them across vitest workers, and a stamp of the packages'
// inputs (sizes and mtimes) says whether the last packs are still current.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const WORKSPACE_FOLDERS = ['packages', 'services'];

export interface Workspace {
  readonly name: string;
  /** Folder relative to the repository root, e.g. packages/client. */
  readonly dir: string;
  readonly manifest: PackageJson;
}

export interface PackageJson {
  name: string;
  version: string;
  private?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  [key: string]: unknown;
}

export function workspaces(): Workspace[] {
  const out: Workspace[] = [];
  for (const folder of WORKSPACE_FOLDERS) {
    for (const d of readdirSync(join(REPO_ROOT, folder)).sort()) {
      const file = join(REPO_ROOT, folder, d, 'package.json');
      if (!existsSync(file)) continue;
      const manifest = JSON.parse(readFileSync(file, 'utf8')) as PackageJson;
      out.push({ name: manifest.name, dir: `${folder}/${d}`, manifest });
    }
  }
  return out;
}

export function publicWorkspaces(): Workspace[] {
  return workspaces().filter((w) => w.manifest.private !== true);
}

export interface Packs {
  /** Folder holding one .tgz per public package. */
  readonly dir: string;
  /** Package name -> tarball path. */
  readonly tarballs: ReadonlyMap<string, string>;
  /** What `npm run build` printed (the browser bundle's size line among it). */
  readonly buildOutput: string;
}

/** Build and pack the public packages, or reuse the packs of the same sources. */
export async function packedPackages(): Promise<Packs> {
  const base = join(tmpdir(), `fle-packs-${createHash('sha256').update(REPO_ROOT).digest('hex').slice(0, 12)}`);
  mkdirSync(base, { recursive: true });
  const lock = join(base, 'lock');
  await acquire(lock);
  try {
    const stamp = sourceStamp();
    const readyFile = join(base, 'ready.json');
    if (existsSync(readyFile)) {
      const ready = JSON.parse(readFileSync(readyFile, 'utf8')) as { stamp: string; dir: string; tarballs: Record<string, string>; buildOutput: string };
      if (ready.stamp === stamp && Object.values(ready.tarballs).every((t) => existsSync(t))) {
        return { dir: ready.dir, tarballs: new Map(Object.entries(ready.tarballs)), buildOutput: ready.buildOutput };
      }
    }
    // Older packs may still be in use by a test file of the same run (the sources changed under it): removed after an hour.
    for (const old of readdirSync(base)) {
      const path = join(base, old);
      if (old.startsWith('packs-') && Date.now() - statSync(path).mtimeMs > 3_600_000) rmSync(path, { recursive: true, force: true });
    }
    const build = await npm(['run', 'build'], REPO_ROOT);
    const dir = mkdtempSync(join(base, 'packs-'));
    const pub = publicWorkspaces();
    const { stdout } = await npm(['pack', '--json', '--pack-destination', dir, ...pub.flatMap((w) => ['-w', w.name])], REPO_ROOT);
    const packed = JSON.parse(stdout) as Array<{ name: string; filename: string }>;
    const tarballs = Object.fromEntries(packed.map((p) => [p.name, join(dir, p.filename)]));
    writeFileSync(readyFile, JSON.stringify({ stamp, dir, tarballs, buildOutput: build.stdout }));
    return { dir, tarballs: new Map(Object.entries(tarballs)), buildOutput: build.stdout };
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** Sizes and mtimes of everything that goes into a package (sources, manifests, build configs). */
function sourceStamp(): string {
  const h = createHash('sha256');
  const walk = (abs: string): void => {
    if (!existsSync(abs)) return;
    const st = statSync(abs);
    if (st.isDirectory()) {
      for (const e of readdirSync(abs).sort()) walk(join(abs, e));
      return;
    }
    h.update(`${relative(REPO_ROOT, abs)}:${st.size}:${st.mtimeMs}\n`);
  };
  for (const f of ['package.json', 'package-lock.json', 'tsconfig.base.json', 'tsconfig.build-base.json', 'tsconfig.build.json', 'scripts/build-browser.ts']) walk(join(REPO_ROOT, f));
  for (const w of workspaces()) {
    for (const e of ['package.json', 'tsconfig.build.json', 'src', 'proto', 'bin', 'README.md', 'LICENSE']) walk(join(REPO_ROOT, w.dir, e));
  }
  return h.digest('hex');
}

async function acquire(lock: string): Promise<void> {
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      mkdirSync(lock);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // A lock older than 10 minutes belongs to a run that died.
      if (Date.now() - statSync(lock, { throwIfNoEntry: false })!.mtimeMs > 10 * 60_000) rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/**
 * The environment for a user's process: no NODE_OPTIONS (vitest sets the
 * "@fle/source" condition there for the repository's own processes, which an
 * installed package has no sources for).
 */
export function userEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env['NODE_OPTIONS'];
  for (const k of Object.keys(env)) if (k.startsWith('npm_') || k.startsWith('VITEST')) delete env[k];
  return env;
}

export async function npm(args: string[], cwd: string, env: NodeJS.ProcessEnv = userEnv()): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run('npm', args, { cwd, env, maxBuffer: 64 * 1024 * 1024, timeout: 5 * 60_000 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`npm ${args.join(' ')} (in ${cwd}) failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  link?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  [key: string]: unknown;
}

/**
 * A project in a new temp folder outside the repository with `packages`
 * (names of public packages) installed from their tarballs by `npm ci
 * --offline`. `npm install <tarball>` offline would need the registry's
 * metadata of every dependency, which an `npm ci` cache does not hold, so the
 * project gets a lock file: its third-party entries are the repository's own
 * (same versions, resolved URLs and integrity, so the tarballs come from the
 * npm cache), its @fle/* entries the packed tarballs.
 */
export async function installProject(packs: Packs, packages: readonly string[], opts: { name?: string } = {}): Promise<string> {
  const project = mkdtempSync(join(tmpdir(), `fle-${opts.name ?? 'app'}-`));
  const repoLock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const ws = new Map(workspaces().map((w) => [w.name, w]));
  const closure = new Set<string>(packages);
  // The @fle/* packages the requested ones need, by their manifests.
  for (const name of closure) {
    const w = ws.get(name);
    if (!w) throw new Error(`${name} is not a workspace`);
    if (w.manifest.private) throw new Error(`${name} is private: not packed`);
    for (const dep of Object.keys(runtimeDeps(w.manifest))) if (dep.startsWith('@fle/')) closure.add(dep);
  }
  const root: Record<string, string> = {};
  const entries: Record<string, LockEntry> = {};
  const pending: Array<{ from: string; to: string; entry: LockEntry }> = [];
  for (const name of closure) {
    const w = ws.get(name)!;
    const tarball = packs.tarballs.get(name);
    if (!tarball) throw new Error(`no tarball for ${name}`);
    root[name] = `file:${tarball}`;
    const entry: LockEntry = {
      version: w.manifest.version,
      resolved: `file:${tarball}`,
      integrity: `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`,
      ...pick(w.manifest, ['dependencies', 'optionalDependencies', 'peerDependencies', 'peerDependenciesMeta', 'bin', 'engines', 'license']),
    };
    entries[`node_modules/${name}`] = entry;
    pending.push({ from: w.dir, to: `node_modules/${name}`, entry });
  }
  // Third-party packages: resolved the way node does from the same place in the repository's tree.
  while (pending.length > 0) {
    const { from, to, entry } = pending.pop()!;
    for (const dep of Object.keys(runtimeDeps(entry))) {
      if (dep.startsWith('@fle/')) continue;
      const found = lookup(repoLock.packages, from, dep);
      if (!found) {
        if (entry.optionalDependencies?.[dep] !== undefined) continue;
        throw new Error(`${dep} (needed by ${from}) is not in package-lock.json`);
      }
      const target = mapPath(found, from, to);
      if (entries[target]) continue;
      const copy: LockEntry = { ...repoLock.packages[found]! };
      for (const flag of ['dev', 'devOptional', 'peer', 'extraneous']) delete copy[flag];
      entries[target] = copy;
      pending.push({ from: found, to: target, entry: copy });
    }
  }
  const manifest = { name: opts.name ?? 'app', version: '0.0.0', private: true, type: 'module', dependencies: root };
  writeFileSync(join(project, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const lockfile = { name: manifest.name, version: manifest.version, lockfileVersion: 3, requires: true, packages: { '': { name: manifest.name, version: manifest.version, dependencies: root }, ...entries } };
  writeFileSync(join(project, 'package-lock.json'), `${JSON.stringify(lockfile, null, 2)}\n`);
  await npm(['ci', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], project);
  return project;
}

function runtimeDeps(m: { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string>; peerDependencies?: Record<string, string>; peerDependenciesMeta?: Record<string, { optional?: boolean }> }): Record<string, string> {
  const peers = Object.fromEntries(Object.entries(m.peerDependencies ?? {}).filter(([n]) => !m.peerDependenciesMeta?.[n]?.optional));
  return { ...peers, ...m.optionalDependencies, ...m.dependencies };
}

function pick<T extends object>(o: T, keys: string[]): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([k]) => keys.includes(k))) as Partial<T>;
}

/** Node's lookup of `dep` from the lock path `from`: its own node_modules, then each parent's. */
function lookup(lock: Record<string, LockEntry>, from: string, dep: string): string | undefined {
  let at = from;
  for (;;) {
    const candidate = at === '' ? `node_modules/${dep}` : `${at}/node_modules/${dep}`;
    const entry = lock[candidate];
    if (entry && !entry.link) return candidate;
    if (at === '') return undefined;
    const i = at.lastIndexOf('/node_modules/');
    at = i >= 0 ? at.slice(0, i) : at.startsWith('node_modules/') ? '' : parentOfWorkspace(at);
  }
}

/** packages/client -> '' (the root's node_modules is next). */
function parentOfWorkspace(_dir: string): string {
  return '';
}

/** Where a package found at `found` (looked up from `from`, placed at `to`) goes in the project. */
function mapPath(found: string, from: string, to: string): string {
  // Nested under the workspace itself (packages/x/node_modules/y...): under the installed package.
  if (found.startsWith(`${from}/node_modules/`) && !from.startsWith('node_modules/')) return `${to}${found.slice(from.length)}`;
  // Anything else keeps its place in the tree (root node_modules, or nested under a third-party package).
  return found;
}

/** Installed size (bytes on disk, apparent) and the packages under node_modules, the project itself excluded. */
export function installedFootprint(project: string): { bytes: number; packages: string[] } {
  const lock = JSON.parse(readFileSync(join(project, 'package-lock.json'), 'utf8')) as { packages: Record<string, unknown> };
  const packages = Object.keys(lock.packages)
    .filter((p) => p !== '')
    .map((p) => p.slice(p.lastIndexOf('node_modules/') + 'node_modules/'.length))
    .sort();
  let bytes = 0;
  const walk = (abs: string): void => {
    const st = statSync(abs, { throwIfNoEntry: false });
    if (!st) return;
    if (st.isDirectory()) for (const e of readdirSync(abs)) walk(join(abs, e));
    else bytes += st.size;
  };
  walk(join(project, 'node_modules'));
  return { bytes, packages };
}
