// The packages as a user gets them (issue 21): `npm run build`, `npm pack` of
// every public package, and projects in a temp folder OUTSIDE the repository
// that install the tarballs offline (npm cache only) and run them with plain
// `node` — no tsx, no sources, no "@fle/source" condition. publint and
// @arethetypeswrong/cli check every tarball.
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_ID, startReliabilityStack, type ReliabilityStack } from '../support/reliability-stack.js';
import { installedFootprint, installProject, packedPackages, publicWorkspaces, REPO_ROOT, userEnv, type Packs } from './support/packs.js';

const run = promisify(execFile);
const FIXTURES = join(import.meta.dirname, 'fixtures');
/** What a client (sealing, the replay stamp, the gRPC call) must not pull in. */
const SERVER_SIDE = ['ioredis', 'pino', 'prom-client', 'nats'];

let packs: Packs;
const projects: string[] = [];

async function project(packages: string[], name: string): Promise<string> {
  const dir = await installProject(packs, packages, { name });
  projects.push(dir);
  expect(relative(REPO_ROOT, dir).startsWith('..')).toBe(true);
  return dir;
}

/** `node <file>` in `cwd` with a user's environment; the last stdout line as JSON. */
async function node(cwd: string, file: string, env: NodeJS.ProcessEnv = {}): Promise<Record<string, unknown>> {
  copyFileSync(join(FIXTURES, file), join(cwd, file));
  const { stdout } = await run(process.execPath, [file], { cwd, env: userEnv(env), timeout: 60_000 }).catch((err: { message: string; stderr?: string }) => {
    throw new Error(`node ${file} failed: ${err.message}\n${err.stderr ?? ''}`);
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

function figures(label: string, dir: string): { bytes: number; packages: string[] } {
  const fp = installedFootprint(dir);
  // The README figures (docs/packages.md), measured on every run.
  console.log(`${label}: ${(fp.bytes / 1024 / 1024).toFixed(1)} MiB installed, ${fp.packages.length} packages (${fp.packages.filter((p) => !p.startsWith('@fle/')).length} third-party)`);
  return fp;
}

beforeAll(async () => {
  packs = await packedPackages();
}, 600_000);

afterAll(() => {
  for (const dir of projects) rmSync(dir, { recursive: true, force: true });
});

describe('the packed public packages', () => {
  it('are every public workspace, each with built JS, .d.ts and a LICENSE, and no test, vector or TypeScript source', async () => {
    const names = publicWorkspaces().map((w) => w.name);
    expect([...packs.tarballs.keys()].sort()).toEqual(names.sort());
    for (const [name, tarball] of packs.tarballs) {
      const { stdout } = await run('tar', ['-tzf', tarball]);
      const files = stdout.trim().split('\n').map((f) => f.replace(/^package\//, ''));
      expect(files, name).toContain('LICENSE');
      expect(files.some((f) => /^dist\/.*\.js$/.test(f)), name).toBe(true);
      expect(files.some((f) => /^dist\/.*\.d\.ts$/.test(f)), name).toBe(true);
      expect(files.filter((f) => /(^|\/)(test|tests|vectors|__tests__)\//.test(f) || /\.test\.[jt]s$/.test(f) || (/\.ts$/.test(f) && !f.endsWith('.d.ts'))), name).toEqual([]);
      const manifest = JSON.parse((await run('tar', ['-xzOf', tarball, 'package/package.json'])).stdout) as { private?: boolean; dependencies?: Record<string, string> };
      expect(manifest.private, name).toBeUndefined();
      expect(Object.entries(manifest.dependencies ?? {}).filter(([, range]) => range === '*'), name).toEqual([]);
    }
    // `npm run build` printed the browser bundle's size against its budget (docs/packages.md).
    expect(packs.buildOutput).toMatch(/@fle\/client browser bundle: [\d.]+ KiB minified, [\d.]+ KiB minified\+gzip \(budget [\d.]+ KiB\)/);
    // @fle/schema ships fle/v1/options.proto for users' buf.yaml and protoc.
    expect((await run('tar', ['-tzf', packs.tarballs.get('@fle/schema')!])).stdout).toContain('package/proto/fle/v1/options.proto');
  });

  it('pass publint and @arethetypeswrong/cli (ESM-only profile)', async () => {
    const failures: string[] = [];
    const checks = [...packs.tarballs].flatMap(([name, tarball]) => [
      { tool: 'publint', name, args: ['publint', 'run', tarball] },
      // ESM-only: no `require` entry (node10 and node16-from-CJS resolutions are not offered).
      { tool: 'attw', name, args: ['attw', tarball, '--profile', 'esm-only', '--format', 'ascii'] },
    ]);
    // A few at a time: each is mostly Node start-up and unpacking.
    const worker = async (): Promise<void> => {
      for (let c = checks.shift(); c; c = checks.shift()) {
        await run(join(REPO_ROOT, 'node_modules/.bin', c.args[0]!), c.args.slice(1), { cwd: REPO_ROOT, env: userEnv({ NO_COLOR: '1' }), timeout: 120_000 }).catch((err: { stdout?: string; stderr?: string }) => {
          failures.push(`${c.tool} ${c.name}:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
        });
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    expect(failures).toEqual([]);
  }, 300_000);

  it('@fle/field-crypto alone seals and opens under plain node', async () => {
    const dir = await project(['@fle/field-crypto'], 'field-crypto');
    expect(await node(dir, 'seal-open.mjs')).toEqual({ sealedDiffers: true, plaintextInSealed: false, opened: true, note: 'clear' });
    const fp = figures('@fle/field-crypto', dir);
    expect(fp.packages.filter((p) => p.startsWith('@fle/'))).toEqual(['@fle/field-crypto']);
  }, 300_000);

  it('@fle/client installs without Redis, pino, prom-client or the NATS client, and loads a team schema with the shipped options.proto', async () => {
    const dir = await project(['@fle/client'], 'client');
    const fp = figures('@fle/client', dir);
    expect(fp.packages.filter((p) => SERVER_SIDE.includes(p))).toEqual([]);
    expect(fp.packages).not.toContain('@fle/service-kit');
    expect(await node(dir, 'load-schema.mjs')).toEqual({ type: 'team.v1.Note', protoDir: true });
    // The browser build ships inside the package, where the "browser" condition points.
    expect(existsSync(join(dir, 'node_modules/@fle/client/dist/fle-browser.mjs'))).toBe(true);
  }, 300_000);

  it('the installed CLI answers `npx fle --help` under plain node', async () => {
    const dir = await project(['@fle/cli'], 'cli');
    expect(existsSync(join(dir, 'node_modules/@fle/cli/src'))).toBe(false);
    const { stdout } = await run('npx', ['--no-install', 'fle', '--help'], { cwd: dir, env: userEnv(), timeout: 60_000 });
    expect(stdout).toMatch(/^Usage: fle/m);
    for (const command of ['envelope', 'keystore', 'keys', 'certs', 'records']) expect(stdout).toContain(command);
    // Without the repository's devstack, `fle demo` says so in one line.
    const demo = await run('npx', ['--no-install', 'fle', 'demo'], { cwd: dir, env: userEnv(), timeout: 60_000 }).catch((e: { code: number; stderr: string }) => e);
    expect((demo as { code: number }).code).toBe(1);
    expect((demo as { stderr: string }).stderr.trim()).toMatch(/^fle: demo: needs @fle\/devstack/);
  }, 300_000);

  describe('with a running stack', () => {
    let stack: ReliabilityStack;
    beforeAll(async () => {
      stack = await startReliabilityStack({ transports: ['nats'], tenants: ['t1'] });
    }, 180_000);
    afterAll(async () => {
      await stack?.stop();
    });

    it('an app with the installed @fle/client seals, calls the gateway over mTLS and opens the answer', async () => {
      const dir = await project(['@fle/client', '@fle/keystore-client', '@fle/pki'], 'app');
      const app = { gateway: stack.gateways.nats!.address, keystore: stack.keystore.address, tls: stack.pki.files('client'), gatewayId: GATEWAY_ID, tenant: 't1' };
      expect(await node(dir, 'call-gateway.mjs', { FLE_APP: JSON.stringify(app) })).toEqual({ approved: true, lastFour: true, tenant: 't1', tokenOpened: true });
    }, 300_000);
  });
});
