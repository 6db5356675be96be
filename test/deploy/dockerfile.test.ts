// deploy/docker/Dockerfile checked without a Docker engine: every COPY source
// exists in the build context, every workspace manifest reaches `npm ci`, each
// service target runs its real main.ts as a non-root user.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { copyOperands, dockerfileInstructions, execForm } from './dockerfile.js';
import { readText, repoPath, workspaceDirs } from './repo.js';
import { probeProblems } from './service-configs.js';

const instructions = dockerfileInstructions();
const dockerignore = readText(repoPath('.dockerignore')).split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));

/** Stage names in FROM order; the ARG default of the base image resolved. */
function baseImage(): string {
  const arg = instructions.find((i) => i.keyword === 'ARG' && i.args.startsWith('NODE_IMAGE='));
  return arg!.args.slice('NODE_IMAGE='.length);
}

function stageOf(name: string) {
  return instructions.filter((i) => i.stage === name);
}

/** The effective value of an instruction for a target, following `FROM <stage> AS target` chains. */
function inherited(target: string, keyword: string): string | undefined {
  const own = stageOf(target);
  const last = own.filter((i) => i.keyword === keyword).pop();
  if (last) return last.args;
  const from = own.find((i) => i.keyword === 'FROM')!.args.split(/\s+/)[0]!;
  return instructions.some((i) => i.stage === from) ? inherited(from, keyword) : undefined;
}

describe('Dockerfile', () => {
  it('builds on a Debian slim Node 20 image', () => {
    expect(baseImage()).toMatch(/^node:20(\.\d+)*-bookworm-slim(@sha256:[0-9a-f]{64})?$/);
    for (const from of instructions.filter((i) => i.keyword === 'FROM')) {
      const image = from.args.split(/\s+/)[0]!;
      expect(image === '${NODE_IMAGE}' || instructions.some((i) => i.stage === image), `FROM ${image}`).toBe(true);
    }
  });

  it('copies only sources that exist in the build context and are not ignored', () => {
    const copies = instructions.filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD');
    expect(copies.length).toBeGreaterThan(0);
    for (const c of copies) {
      const { flags, sources } = copyOperands(c.args);
      if (flags.some((f) => f.startsWith('--from='))) continue;
      for (const src of sources) {
        expect(src.includes('*'), `line ${c.line}: no globs, so this check sees every source`).toBe(false);
        expect(existsSync(repoPath(src)), `line ${c.line}: COPY ${src}`).toBe(true);
        expect(dockerignore.includes(src.replace(/\/$/, '')), `line ${c.line}: ${src} is .dockerignored`).toBe(false);
      }
    }
  });

  it('hands npm ci every workspace manifest and the lock file', () => {
    const deps = stageOf('deps').filter((i) => i.keyword === 'COPY').flatMap((i) => copyOperands(i.args).sources);
    expect(deps).toContain('package-lock.json');
    expect(deps).toContain('package.json');
    for (const ws of workspaceDirs()) expect(deps, ws).toContain(`${ws}/package.json`);
    const install = stageOf('deps').find((i) => i.keyword === 'RUN' && i.args.includes('npm ci'));
    expect(install?.args).toContain('--omit=dev');
    expect(install?.args).toContain('--ignore-scripts');
  });

  it('installs the runtime the services start with (tsx via the gateway and processor) and every service workspace', () => {
    const install = stageOf('deps').find((i) => i.keyword === 'RUN' && i.args.includes('npm ci'))!.args;
    // @fle/cli is a published package that runs its built JS, so tsx comes from the services run from source.
    for (const svc of ['gateway', 'processor']) {
      const pkg = JSON.parse(readText(repoPath(`services/${svc}/package.json`))) as { dependencies: Record<string, string> };
      expect(pkg.dependencies.tsx, `tsx is a production dependency of @fle/${svc}`).toBeDefined();
    }
    for (const ws of ['@fle/keystore', '@fle/gateway', '@fle/processor', '@fle/cli']) expect(install).toContain(`-w ${ws}`);
  });

  it.each(['keystore', 'gateway', 'processor'])('target %s runs services/%s/src/main.ts as a non-root user', (name) => {
    expect(stageOf(name).length).toBeGreaterThan(0);
    const user = inherited(name, 'USER');
    expect(user).toBeDefined();
    expect(['root', '0', '0:0']).not.toContain(user);
    const entrypoint = execForm(inherited(name, 'ENTRYPOINT')!);
    const cmd = execForm(inherited(name, 'CMD')!);
    expect(entrypoint).toEqual(['node', '--import', 'tsx']);
    expect(cmd[0]).toBe(`services/${name}/src/main.ts`);
    expect(existsSync(repoPath(cmd[0]!)), `${cmd[0]} exists`).toBe(true);
    expect(inherited(name, 'WORKDIR')).toBe('/app');
    const env = stageOf(name).filter((i) => i.keyword === 'ENV').map((i) => i.args).join(' ');
    expect(env).toContain(`FLE_CONFIG=/etc/fle/${name}.yaml`);
  });

  it.each(['keystore', 'gateway', 'processor'] as const)('target %s has a health check that matches its shipped config', (name) => {
    const hc = stageOf(name).find((i) => i.keyword === 'HEALTHCHECK');
    expect(hc, `${name} HEALTHCHECK`).toBeDefined();
    const args = execForm(hc!.args.slice(hc!.args.indexOf('CMD') + 3).trim());
    expect(args[0]).toBe('node');
    expect(probeProblems(name, args)).toEqual([]);
    const probe = args[1]!;
    const copied = instructions.filter((i) => i.keyword === 'COPY').flatMap((i) => copyOperands(i.args).sources);
    expect(copied, 'the probe script is in the image').toContain(probe);
  });

  it('keeps secrets and local state out of the build context', () => {
    for (const pattern of ['.fle', '**/node_modules', '.git', '**/*-key.pem']) expect(dockerignore).toContain(pattern);
  });
});
