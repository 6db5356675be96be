// `fle keystore serve|backup|split-master|restore` and `fle keys ...` against
// the real keystore process over mTLS. The recovery drill: back up, split the
// master key 3-of-5, lose the store AND the master key file, restore with three
// shares, and open envelopes sealed before the loss.
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nativeBackend, openEnvelope, parseEnvelope, sealEnvelope, type KeyRingRef } from '@fle/field-crypto';
import { KeystoreKeyProvider } from '@fle/keystore-client';
import { createKeystoreTestEnv, startKeystoreProcess, type KeystoreProcess, type KeystoreTestEnv } from '@fle/keystore/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/main.js';

const bin = join(dirname(fileURLToPath(import.meta.url)), '../bin/fle.mjs');
let env: KeystoreTestEnv;
let ks: KeystoreProcess;
const closers: Array<{ close(): void }> = [];

/** Runs `fle ...` in this process, capturing what it prints. */
async function fle(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
  try {
    const code = await main(['node', 'fle', ...args]);
    // node's one-time DEP0123 warning (grpc-js sets an IP address as TLS servername) is not ours
    stderr = stderr.replace(/^\(node:\d+\) \[DEP0123\].*\n(\(Use `node --trace-deprecation.*\n)?/m, '');
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}

const conn = (): string[] => ['--address', ks.address, '--certs-dir', env.pki.dir];
const json = <T>(r: { code: number; stdout: string; stderr: string }): T => {
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as T;
};

beforeAll(async () => {
  env = await createKeystoreTestEnv();
  // `fle keystore serve` as the real process
  ks = await startKeystoreProcess(env, { argv: [bin, 'keystore', 'serve', '--config', env.configPath] });
});

afterAll(async () => {
  for (const c of closers) c.close();
  await ks?.stop();
  env?.cleanup();
});

describe('fle keys and fle keystore', () => {
  it('administers rings, backs up, splits the master key, and restores after losing store and master key', async () => {
    const acme: KeyRingRef = { tenant: 'acme', ring: 'default' };
    const pci: KeyRingRef = { tenant: 'acme', ring: 'pci' };
    // new rings are alg 2 (XChaCha20-Poly1305) by default; alg 1 only when asked for
    expect(json<{ version: number; state: string; alg: number }>(await fle('keys', 'create', '--tenant', 'acme', '--json', ...conn()))).toMatchObject({ version: 1, state: 'primary', alg: 2 });
    expect(json<{ alg: number }>(await fle('keys', 'create', '--tenant', 'acme', '--ring', 'pci', '--alg', '1', '--json', ...conn()))).toMatchObject({ alg: 1 });
    const human = await fle('keys', 'list', '--tenant', 'acme', ...conn());
    expect(human.stdout).toMatch(/^acme\/default primary v1 \(alg 2, created .*\)\nacme\/pci primary v1 \(alg 1/);

    // seal some envelopes under v1, then rotate/promote and seal under v2
    // No refresh window: the first seal past the TTL already waits for the new primary.
    const keys = new KeystoreKeyProvider({ address: ks.address, tls: env.pki.files('processor'), ttlMs: 50, refreshWindowMs: 0 });
    closers.push(keys);
    const binding = (tenant: string) => ({ tenant, messageType: 'fletest.svc.v1.StoredEntry', fieldPath: '4', context: 'record/1' });
    const sealed: Array<{ ref: KeyRingRef; envelope: Uint8Array; plaintext: string }> = [];
    const seal = async (ref: KeyRingRef, plaintext: string): Promise<void> => {
      const k = await keys.primaryKey(ref);
      const envelope = sealEnvelope(Buffer.from(plaintext), { backend: nativeBackend, key: k.key, keyVersion: k.version, alg: k.alg, binding: binding(ref.tenant) });
      sealed.push({ ref, envelope, plaintext });
    };
    await seal(acme, '4111 1111 1111 1111');
    await seal(pci, '123');
    expect(json<{ version: number; state: string }>(await fle('keys', 'rotate', '--tenant', 'acme', '--json', ...conn()))).toMatchObject({ version: 2, state: 'pending' });
    const promoted = await fle('keys', 'promote', '--tenant', 'acme', '--version', '2', ...conn());
    expect(promoted.stdout).toMatch(/^promoted acme\/default v2 primary .*\ndemoted acme\/default v1 decrypt-only/);
    await new Promise((r) => setTimeout(r, 60)); // past the client TTL
    await seal(acme, '5500 0000 0000 0004');
    expect(json<{ version: number }>(await fle('keys', 'rotate', '--tenant', 'acme', '--json', ...conn())).version).toBe(3);
    expect(sealed.map((s) => parseEnvelope(s.envelope).keyVersion)).toEqual([1, 1, 2]);

    // clear errors for mistakes and refusals
    const noYes = await fle('keys', 'destroy', '--tenant', 'acme', '--version', '1', ...conn());
    expect(noYes).toMatchObject({ code: 1, stderr: 'fle: destroy cannot be undone: add --yes to confirm\n' });
    const bad = await fle('keys', 'destroy', '--tenant', 'acme', '--version', '1', '--yes', ...conn());
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^fle: FAILED_PRECONDITION: key ring acme\/default version 1 is decrypt-only: disable it before destroying it\n$/);
    const gateway = await fle('keys', 'list', '--identity', 'gateway', ...conn());
    expect(gateway.code).toBe(1);
    expect(gateway.stderr).toMatch(/^fle: keystore denied access/);
    const nowhere = await fle('keys', 'list', '--address', '127.0.0.1:1', '--certs-dir', env.pki.dir);
    expect(nowhere).toMatchObject({ code: 1, stderr: 'fle: cannot reach the keystore at 127.0.0.1:1\n' });

    const versions = json<Array<{ state: string }>>(await fle('keys', 'list', '--tenant', 'acme', '--ring', 'default', '--json', ...conn()));
    expect(versions.map((v) => v.state)).toEqual(['decrypt-only', 'primary', 'pending']);

    // backup while the keystore runs; split the master key 3-of-5
    const backupPath = join(env.dir, 'backup', 'keystore-backup.json');
    expect(json<{ rings: number }>(await fle('keystore', 'backup', '--config', env.configPath, '--out', backupPath, '--json'))).toMatchObject({ rings: 2 });
    expect(statSync(backupPath).mode & 0o777).toBe(0o600);
    const { shares } = json<{ shares: string[] }>(await fle('keystore', 'split-master', '--config', env.configPath, '--shares', '5', '--threshold', '3', '--json'));
    expect(shares).toHaveLength(5);
    const backupText = readFileSync(backupPath, 'utf8');
    expect(backupText).not.toContain(env.masterKeyHex);
    expect(backupText).not.toContain('acme');

    // restoring into the running keystore's store is refused (it owns the store)
    const busy = await fle('keystore', 'restore', '--config', env.configPath, '--backup', backupPath, '--share', shares[0]!, '--share', shares[1]!, '--share', shares[2]!);
    expect(busy.code).toBe(1);
    expect(busy.stderr).toMatch(/in use by process|already exist/);

    // disaster: the keystore stops, its store and its master key file are gone
    await ks.stop();
    rmSync(dirname(env.storePath), { recursive: true, force: true });
    rmSync(env.masterKeyFile);

    // two shares are not enough, and nothing is written
    const short = await fle('keystore', 'restore', '--config', env.configPath, '--backup', backupPath, '--share', shares[1]!, '--share', shares[3]!);
    expect(short).toMatchObject({ code: 1, stderr: 'fle: need 3 distinct recovery shares, got 2\n' });
    expect(existsSync(env.masterKeyFile)).toBe(false);
    expect(existsSync(env.storePath)).toBe(false);

    // any three shares restore every key and the master key file
    const restored = json<{ rings: number; wroteMasterKey: boolean }>(
      await fle('keystore', 'restore', '--config', env.configPath, '--backup', backupPath, '--share', shares[4]!, '--share', shares[0]!, '--share', shares[2]!, '--json'),
    );
    expect(restored).toMatchObject({ rings: 2, wroteMasterKey: true });
    expect(readFileSync(env.masterKeyFile, 'utf8').trim()).toBe(env.masterKeyHex);
    expect(statSync(env.masterKeyFile).mode & 0o777).toBe(0o600);

    // the keystore comes back and every envelope sealed before the loss opens
    ks = await startKeystoreProcess(env);
    const after = new KeystoreKeyProvider({ address: ks.address, tls: env.pki.files('processor') });
    closers.push(after);
    for (const s of sealed) {
      const k = await after.keyVersion(s.ref, parseEnvelope(s.envelope).keyVersion);
      expect(Buffer.from(openEnvelope(s.envelope, { backend: nativeBackend, key: k.key, binding: binding(s.ref.tenant) })).toString()).toBe(s.plaintext);
    }
    const states = json<Array<{ state: string }>>(await fle('keys', 'list', '--tenant', 'acme', '--ring', 'default', '--json', ...conn()));
    expect(states.map((v) => v.state)).toEqual(['decrypt-only', 'primary', 'pending']);
  });
});
