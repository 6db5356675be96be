// .ci/run on a fresh machine (issue 21 item 5): it must install nats-server,
// Chromium and redis-server exactly when the tests would not find them, non-interactively
// with apt-get. scripts/find-tool.ts decides; .ci/run is run for real with
// `apt-get`, `sudo` and `npm` replaced by recorders on PATH (npx, tsx and the
// finder are the real ones), so nothing is installed and no suite runs.
import { execFile } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '@fle/testkit';
import { describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: REPO, env: { ...process.env, ...env }, timeout: 200_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** What a machine without any of the three looks like to the finders. */
const NOTHING_INSTALLED = { NATS_SERVER_BIN: '/nonexistent/nats-server', FLE_CHROMIUM: '/nonexistent/chromium', REDIS_SERVER_BIN: '/nonexistent/redis-server' };

const findTool = (args: string[], env: NodeJS.ProcessEnv): Promise<Run> => run(process.execPath, ['--import', 'tsx', 'scripts/find-tool.ts', ...args], env);

/** A folder of recorders: each appends `<name> <args>` (and DEBIAN_FRONTEND for apt-get) to log.txt. */
async function recorders(): Promise<{ bin: string; log: () => string[] }> {
  const bin = await tempDir('fle-ci-');
  const log = join(bin, 'log.txt');
  writeFileSync(log, '');
  const write = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  write('apt-get', `echo "apt-get DEBIAN_FRONTEND=$DEBIAN_FRONTEND $*" >> ${JSON.stringify(log)}`);
  write('npm', `echo "npm $*" >> ${JSON.stringify(log)}`);
  write('sudo', `echo "sudo" >> ${JSON.stringify(log)}; exec "$@"`);
  return { bin, log: () => readFileSync(log, 'utf8').split('\n').filter((l) => l && l !== 'sudo') };
}

describe('scripts/find-tool.ts', { timeout: 120_000 }, () => {
  it('names the Debian packages of the tools the tests cannot find', async () => {
    const r = await findTool(['--missing', 'nats-server', 'chromium', 'redis-server'], NOTHING_INSTALLED);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('nats-server chromium redis-server\n');
  });

  it('fails naming what is missing, and prints the path of what it found', async () => {
    const r = await findTool(['nats-server', 'chromium'], { NATS_SERVER_BIN: '/nonexistent/nats-server', FLE_CHROMIUM: process.execPath });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(`chromium: ${process.execPath}\n`);
    expect(r.stderr).toContain('not found: nats-server');
  });
});

// Each run starts tsx several times: slow on a loaded machine.
describe('.ci/run', { timeout: 240_000 }, () => {
  it('on a machine without nats-server and Chromium: installs both with apt-get, non-interactively, before the tests', async () => {
    const { bin, log } = await recorders();
    const r = await run('bash', ['.ci/run'], { PATH: `${bin}:${process.env['PATH']}`, ...NOTHING_INSTALLED });
    expect(log()).toEqual(['npm ci --no-audit --no-fund', 'apt-get DEBIAN_FRONTEND=noninteractive update -q', 'apt-get DEBIAN_FRONTEND=noninteractive install -y -q nats-server chromium redis-server']);
    // The recorders installed nothing, so the check after the install stops the run before `npm test`.
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('not found: nats-server, chromium, redis-server');
  });

  it('with all three present: installs nothing and runs the tests', async () => {
    const { bin, log } = await recorders();
    // Any executable stands in for each: none is run (the suite's Redis already answers on 127.0.0.1:6379).
    const r = await run('bash', ['.ci/run'], { PATH: `${bin}:${process.env['PATH']}`, NATS_SERVER_BIN: process.execPath, FLE_CHROMIUM: process.execPath, REDIS_SERVER_BIN: process.execPath });
    expect(r.code, r.stderr).toBe(0);
    expect(log()).toEqual(['npm ci --no-audit --no-fund', 'npm test']);
  });
});
