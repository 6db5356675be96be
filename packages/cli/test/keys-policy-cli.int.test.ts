// `fle keys policy set|show` against the real keystore process over mTLS, as
// the admin identity (and refused to anyone else).
import { createKeystoreTestEnv, startKeystoreProcess, type KeystoreProcess, type KeystoreTestEnv } from '@fle/keystore/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../src/commands/keys.js';
import { main } from '../src/main.js';

let env: KeystoreTestEnv;
let ks: KeystoreProcess;

async function fle(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
  try {
    const code = await main(['node', 'fle', ...args]);
    stderr = stderr.replace(/^\(node:\d+\) \[DEP0123\].*\n(\(Use `node --trace-deprecation.*\n)?/m, '');
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}

const conn = (): string[] => ['--address', ks.address, '--certs-dir', env.pki.dir];

beforeAll(async () => {
  env = await createKeystoreTestEnv();
  ks = await startKeystoreProcess(env);
});

afterAll(async () => {
  await ks?.stop();
  env?.cleanup();
});

describe('durations', () => {
  it('parses and prints the units the policy commands take', () => {
    expect(parseDuration('30d', '--x')).toBe(30 * 86_400_000);
    expect(parseDuration('10m', '--x')).toBe(600_000);
    expect(parseDuration('1.5h', '--x')).toBe(5_400_000);
    expect(parseDuration('250', '--x')).toBe(250);
    expect(() => parseDuration('10 weeks', '--rotate-after')).toThrow(/--rotate-after must be a duration/);
    expect(formatDuration(30 * 86_400_000)).toBe('30d');
    expect(formatDuration(5_400_000)).toBe('90m');
    expect(formatDuration(1500)).toBe('1500ms');
  });
});

describe('fle keys policy', () => {
  it('sets, shows and clears a ring\'s rotation policy', async () => {
    expect((await fle('keys', 'create', '--tenant', 'acme', '--ring', 'pci', '--alg', '1', ...conn())).code).toBe(0);
    const set = await fle('keys', 'policy', 'set', '--tenant', 'acme', '--ring', 'pci', '--rotate-after', '30d', '--propagation-delay', '10m', '--max-envelopes', '1000000', ...conn());
    expect(set).toMatchObject({ code: 0, stderr: '', stdout: 'acme/pci: rotate after 30d, propagation delay 10m, envelope budget 1000000\n' });

    const shown = await fle('keys', 'policy', 'show', '--tenant', 'acme', '--ring', 'pci', ...conn());
    expect(shown.code).toBe(0);
    const lines = shown.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('acme/pci: rotate after 30d, propagation delay 10m, envelope budget 1000000');
    expect(lines[1]).toMatch(/^primary v1 \(alg 1\) since \S+, 0 seal\(s\) reported; due by age at \S+$/);
    expect(lines[2]).toBe('no pending version');

    const json = await fle('keys', 'policy', 'show', '--tenant', 'acme', '--ring', 'pci', '--json', ...conn());
    const st = JSON.parse(json.stdout) as { policy: unknown; primary: { stateChangedAt: string }; rotateAt: string };
    expect(st.policy).toEqual({ rotateAfterMs: 30 * 86_400_000, maxEnvelopes: 1_000_000, propagationDelayMs: 600_000 });
    expect(Date.parse(st.rotateAt) - Date.parse(st.primary.stateChangedAt)).toBe(30 * 86_400_000);

    const cleared = await fle('keys', 'policy', 'set', '--tenant', 'acme', '--ring', 'pci', '--clear', ...conn());
    expect(cleared.stdout).toBe('acme/pci: no rotation policy (rotated by hand)\n');
  });

  it('refuses what makes no sense, and anyone but an admin', async () => {
    await fle('keys', 'create', '--tenant', 'acme', '--ring', 'default', ...conn());
    const budget = await fle('keys', 'policy', 'set', '--tenant', 'acme', '--rotate-after', '30d', '--propagation-delay', '10m', '--max-envelopes', '5', ...conn());
    expect(budget.code).toBe(1);
    expect(budget.stderr).toMatch(/^fle: INVALID_ARGUMENT: rotation policy: an envelope budget applies to alg 1 rings only \(this ring is alg 2/);
    const half = await fle('keys', 'policy', 'set', '--tenant', 'acme', '--rotate-after', '30d', ...conn());
    expect(half).toMatchObject({ code: 1, stderr: 'fle: give --rotate-after and --propagation-delay (or --clear)\n' });
    const delay = await fle('keys', 'policy', 'set', '--tenant', 'acme', '--rotate-after', '1h', '--propagation-delay', '2h', ...conn());
    expect(delay.stderr).toMatch(/propagationDelay must be shorter than rotateAfter/);
    const processor = await fle('keys', 'policy', 'show', '--tenant', 'acme', '--identity', 'processor', ...conn());
    expect(processor.code).toBe(1);
    expect(processor.stderr).toMatch(/^fle: keystore denied access/);
  });
});
