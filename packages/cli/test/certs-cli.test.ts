// `fle certs init` and `fle nats config`, run as real processes.
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findNatsServer } from '@fle/nats-setup';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const bin = join(repo, 'packages/cli/bin/fle.mjs');

interface Run { code: number; stdout: string; stderr: string }

function run(file: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: repo, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
const fle = (...args: string[]): Promise<Run> => run(process.execPath, [bin, ...args]);

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fle-cli-certs-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Every private key in `dir`, as text, to prove none reaches the output. */
function keyTexts(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('-key.pem'))
    .map((f) => readFileSync(join(dir, f), 'utf8').split('\n')[1]!);
}

describe('fle certs init', () => {
  it('creates the CA and the identities, prints paths and SPIFFE IDs, never key bytes', async () => {
    const dir = join(root, 'certs');
    const r = await fle('certs', 'init', '--dir', dir);
    expect(r.code).toBe(0);
    for (const name of ['gateway', 'processor', 'keystore', 'client', 'admin']) {
      expect(r.stdout).toContain(`spiffe://fle.local/${name}`);
      expect(r.stdout).toContain(`wrote ${join(dir, `${name}-key.pem`)}`);
      expect(statSync(join(dir, `${name}-key.pem`)).mode & 0o777).toBe(0o600);
    }
    expect(r.stdout).toContain(`wrote ${join(dir, 'ca.pem')}`);
    expect(r.stdout + r.stderr).not.toContain('PRIVATE KEY');
    for (const k of keyTexts(dir)) expect(r.stdout).not.toContain(k);
  });

  it('creates only what is missing, and everything again with --force', async () => {
    const dir = join(root, 'certs');
    const ca = readFileSync(join(dir, 'ca.pem'), 'utf8');
    const again = await fle('certs', 'init', '--dir', dir);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('nothing written');
    unlinkSync(join(dir, 'client.pem'));
    const repair = await fle('certs', 'init', '--dir', dir, '--json');
    expect(JSON.parse(repair.stdout).written).toEqual([join(dir, 'client-key.pem'), join(dir, 'client.pem')]);
    expect(readFileSync(join(dir, 'ca.pem'), 'utf8')).toBe(ca);
    const forced = await fle('certs', 'init', '--dir', dir, '--force', '--json');
    expect(JSON.parse(forced.stdout).written).toHaveLength(14);
    expect(readFileSync(join(dir, 'ca.pem'), 'utf8')).not.toBe(ca);
  });

  it('honours --trust-domain and refuses a bad --days', async () => {
    const r = await fle('certs', 'init', '--dir', join(root, 'acme'), '--trust-domain', 'example.test', '--json');
    expect(JSON.parse(r.stdout).identities[0]).toMatchObject({ name: 'gateway', id: 'spiffe://example.test/gateway' });
    const bad = await fle('certs', 'init', '--dir', join(root, 'bad'), '--days', 'soon');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--days');
  });
});

describe('fle nats config', () => {
  it('writes a config nats-server accepts, mapping the fle identities', async () => {
    const out = join(root, 'nats.conf');
    const r = await fle('nats', 'config', '--dir', join(root, 'certs'), '--store-dir', join(root, 'js'), '--port', '14222', '--out', out);
    expect(r.code).toBe(0);
    const text = readFileSync(out, 'utf8');
    expect(text).toContain('verify_and_map: true');
    expect(text).toContain('"spiffe://fle.local/processor"');
    expect(text).toContain(join(root, 'certs', 'nats.pem'));
    // `nats-server -t` parses the file and checks the certificates without serving.
    const checked = await run(findNatsServer(), ['-t', '-c', out]);
    expect(checked.stderr + checked.stdout).toMatch(/configuration file .* is valid/);
    expect(checked.code).toBe(0);
  });
});
