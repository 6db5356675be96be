// `fle devices enroll|list|revoke` against the real keystore process over
// mTLS, as the admin identity (and refused to anyone else). The token is
// printed to stdout alone, never to stderr.
import { generateKeyPairSync } from 'node:crypto';
import { KeystoreDeviceClient } from '@fle/keystore-client';
import { createKeystoreTestEnv, startKeystoreProcess, type KeystoreProcess, type KeystoreTestEnv } from '@fle/keystore/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/main.js';

let env: KeystoreTestEnv;
let ks: KeystoreProcess;
let gateway: KeystoreDeviceClient;

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

function publicKey(): Uint8Array {
  const spki = generateKeyPairSync('x25519').publicKey.export({ format: 'der', type: 'spki' });
  return new Uint8Array(spki.subarray(spki.length - 32));
}

beforeAll(async () => {
  env = await createKeystoreTestEnv({
    policy: {
      deny: ['spiffe://fle.local/gateway'],
      fetch: [{ identity: 'spiffe://fle.local/processor', tenants: ['*'] }],
      'fetch-public': [{ identity: 'spiffe://fle.local/client', tenants: ['*'] }],
      admin: [{ identity: 'spiffe://fle.local/admin', tenants: ['*'] }],
      enroll: [{ identity: 'spiffe://fle.local/gateway', tenants: ['*'] }],
    },
  });
  ks = await startKeystoreProcess(env);
  gateway = new KeystoreDeviceClient({ address: ks.address, tls: env.pki.files('gateway') });
});

afterAll(async () => {
  gateway?.close();
  await ks?.stop();
  env?.cleanup();
});

describe('fle devices', () => {
  it('enroll prints the token alone on stdout; list shows the device; revoke revokes it', async () => {
    const issued = await fle('devices', 'enroll', '--tenant', 'acme', '--ttl', '5m', ...conn());
    expect(issued.code).toBe(0);
    expect(issued.stdout).toMatch(/^fle_enr_[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{43}\n$/);
    const token = issued.stdout.trim();
    expect(issued.stderr).toMatch(/^one-time enrollment token for tenant acme \(id [A-Za-z0-9_-]{16}\), valid 5m until \S+Z; it enrolls one device/);
    expect(issued.stderr).not.toContain(token.split('.')[1]!);
    expect(issued.stderr).toContain(token.slice('fle_enr_'.length, 'fle_enr_'.length + 16)); // the id, not the secret

    const empty = await fle('devices', 'list', '--tenant', 'acme', ...conn());
    expect(empty).toMatchObject({ code: 0, stdout: 'tenant acme has no devices\n' });

    const key = publicKey();
    const d = await gateway.enroll({ tenant: 'acme', token, publicKey: key, label: 'till 3' });
    const listed = await fle('devices', 'list', '--tenant', 'acme', ...conn());
    expect(listed.code).toBe(0);
    expect(listed.stdout).toBe(`acme/${d.id} active "till 3" (enrolled ${d.enrolledAt}, key ${Buffer.from(key).toString('base64url')})\n`);

    const revoked = await fle('devices', 'revoke', '--tenant', 'acme', '--device', d.id, ...conn());
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toMatch(new RegExp(`^revoked acme/${d.id} revoked "till 3" \\(revoked \\S+Z, key `));
    const json = await fle('devices', 'list', '--tenant', 'acme', '--json', ...conn());
    expect(JSON.parse(json.stdout)).toEqual([expect.objectContaining({ id: d.id, state: 'revoked', label: 'till 3', enrollmentId: expect.any(String) })]);

    const again = await fle('devices', 'revoke', '--tenant', 'acme', '--device', d.id, ...conn());
    expect(again).toMatchObject({ code: 1, stdout: '' });
    expect(again.stderr).toMatch(/^fle: FAILED_PRECONDITION: device dev_\S+ of tenant acme is already revoked\n$/);
  });

  it('enroll --json, and refuses a bad ttl, an unknown device and anyone but an admin', async () => {
    const json = await fle('devices', 'enroll', '--tenant', 'globex', '--json', ...conn());
    expect(json.code).toBe(0);
    const e = JSON.parse(json.stdout) as { tenant: string; token: string; enrollmentId: string; expiresAt: string };
    expect(e).toMatchObject({ tenant: 'globex', token: expect.stringMatching(/^fle_enr_/) });
    // The default ttl is 10 minutes.
    expect(Date.parse(e.expiresAt) - Date.now()).toBeGreaterThan(9 * 60_000);
    expect(Date.parse(e.expiresAt) - Date.now()).toBeLessThanOrEqual(10 * 60_000);

    expect(await fle('devices', 'enroll', '--tenant', 'acme', '--ttl', '8d', ...conn())).toMatchObject({ code: 1, stderr: 'fle: --ttl must be from 1s to 7d\n' });
    expect(await fle('devices', 'enroll', '--tenant', 'acme', '--ttl', 'soon', ...conn())).toMatchObject({ code: 1, stderr: 'fle: --ttl must be a duration such as 90s, 10m, 12h or 30d\n' });
    const unknown = await fle('devices', 'revoke', '--tenant', 'acme', '--device', 'dev_AAAAAAAAAAAAAAAA', ...conn());
    expect(unknown.stderr).toBe('fle: NOT_FOUND: tenant acme has no device dev_AAAAAAAAAAAAAAAA\n');
    const badId = await fle('devices', 'revoke', '--tenant', 'acme', '--device', 'x', ...conn());
    expect(badId.stderr).toMatch(/^fle: INVALID_ARGUMENT: device id must be/);

    for (const identity of ['client', 'processor', 'gateway']) {
      for (const args of [['enroll'], ['list'], ['revoke', '--device', 'dev_AAAAAAAAAAAAAAAA']]) {
        const r = await fle('devices', ...args, '--tenant', 'acme', '--identity', identity, ...conn());
        expect(r.code).toBe(1);
        expect(r.stdout).toBe('');
        expect(r.stderr).toBe('fle: keystore denied access to the devices of tenant "acme"\n');
      }
    }
  });
});
