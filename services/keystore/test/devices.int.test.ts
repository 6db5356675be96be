// Devices enrolled in the keystore (issue 22 item 3), end to end over real
// mTLS against the real keystore process: an admin issues a one-time token,
// the gateway identity redeems it with a device public key, the processor
// identity reads the tenant's devices through keystore-client's cache, a
// revocation reaches it within the cache TTL; tokens are single-use, expire,
// and belong to one tenant; the client identity can do none of it; a restart
// keeps everything, and no token secret reaches the audit log or the logs.
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { status } from '@grpc/grpc-js';
import {
  DeviceEnrollmentError,
  KeystoreAdminClient,
  KeystoreDeviceClient,
  KeystoreDeviceRegistry,
  KeystoreKeyProvider,
  KeystorePermissionDeniedError,
  KeystoreSenderPolicy,
} from '@fle/keystore-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeystoreTestEnv, startKeystoreProcess, type KeystoreProcess, type KeystoreTestEnv } from '../src/testing.js';

const POLICY = {
  deny: ['spiffe://fle.local/gateway'],
  fetch: [{ identity: 'spiffe://fle.local/processor', tenants: ['*'] }],
  'fetch-public': [{ identity: 'spiffe://fle.local/client', tenants: ['*'] }],
  admin: [{ identity: 'spiffe://fle.local/admin', tenants: ['*'] }],
  enroll: [{ identity: 'spiffe://fle.local/gateway', tenants: ['*'] }],
};
const CACHE_TTL_MS = 1500;

let env: KeystoreTestEnv;
let ks: KeystoreProcess;
const closers: Array<{ close(): void }> = [];
const tokens: string[] = [];

function publicKey(): Uint8Array {
  const spki = generateKeyPairSync('x25519').publicKey.export({ format: 'der', type: 'spki' });
  return new Uint8Array(spki.subarray(spki.length - 32));
}

function as<T extends { close(): void }>(c: T): T {
  closers.push(c);
  return c;
}

const admin = (): KeystoreAdminClient => as(new KeystoreAdminClient({ address: ks.address, tls: env.pki.files('admin') }));
const devicesAs = (identity: string): KeystoreDeviceClient => as(new KeystoreDeviceClient({ address: ks.address, tls: env.pki.files(identity) }));

async function issue(tenant: string, ttlMs?: number): Promise<string> {
  const e = await admin().createDeviceEnrollment(tenant, ttlMs === undefined ? {} : { ttlMs });
  tokens.push(e.token);
  return e.token;
}

async function refusal(p: Promise<unknown>): Promise<DeviceEnrollmentError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DeviceEnrollmentError);
  return err as DeviceEnrollmentError;
}

beforeAll(async () => {
  env = await createKeystoreTestEnv({ policy: POLICY });
  ks = await startKeystoreProcess(env);
});

afterAll(async () => {
  for (const c of closers) c.close();
  await ks?.stop();
  env?.cleanup();
});

describe('device enrollment over mTLS', () => {
  let enrolledId = '';
  const key = publicKey();

  it('token -> enroll (gateway) -> list (admin) -> fetched by the processor -> revoked -> gone after the cache TTL', async () => {
    const token = await issue('acme', 60_000);
    expect(token).toMatch(/^fle_enr_/);
    const gateway = devicesAs('gateway');
    const device = await gateway.enroll({ tenant: 'acme', token, publicKey: key, label: 'kiosk 7' });
    expect(device).toMatchObject({ tenant: 'acme', state: 'active', label: 'kiosk 7', publicKey: Buffer.from(key).toString('base64url'), revokedAt: null });
    enrolledId = device.id;

    const listed = await admin().listDevices('acme');
    expect(listed).toEqual([expect.objectContaining({ id: device.id, state: 'active' })]);

    const registry = as(new KeystoreDeviceRegistry({ address: ks.address, tls: env.pki.files('processor'), ttlMs: CACHE_TTL_MS }));
    const senders = new KeystoreSenderPolicy(registry);
    await senders.prepare('acme');
    expect(senders.deviceOf('acme', key)).toBe(device.id);
    expect(senders.requiresSender('acme')).toBe(true);
    await senders.prepare('globex');
    expect(senders.requiresSender('globex')).toBe(false);

    const t0 = Date.now();
    const revoked = await admin().revokeDevice('acme', device.id);
    expect(revoked).toMatchObject({ id: device.id, state: 'revoked' });
    expect(revoked.revokedAt).not.toBeNull();
    // Within the TTL the processor's cached list still has it (the documented bound)…
    await senders.prepare('acme');
    if (Date.now() - t0 < CACHE_TTL_MS - 200) expect(senders.deviceOf('acme', key)).toBe(device.id);
    // …and after the TTL it is gone, while the tenant still refuses anonymous envelopes.
    await new Promise((r) => setTimeout(r, CACHE_TTL_MS + 50));
    await senders.prepare('acme');
    expect(senders.deviceOf('acme', key)).toBeUndefined();
    expect(senders.requiresSender('acme')).toBe(true);
    expect(await admin().listDevices('acme')).toEqual([expect.objectContaining({ id: device.id, state: 'revoked' })]);
  });

  it('a newly enrolled device is found by the processor at its first unknown-sender refetch, not after the TTL', async () => {
    const registry = as(new KeystoreDeviceRegistry({ address: ks.address, tls: env.pki.files('processor'), ttlMs: 60_000, unknownSenderRefetchMs: 200 }));
    await registry.devices('initech');
    const k = publicKey();
    const d = await devicesAs('gateway').enroll({ tenant: 'initech', token: await issue('initech'), publicKey: k });
    await new Promise((r) => setTimeout(r, 250));
    expect(await registry.deviceOf('initech', k)).toBe(d.id);
  });

  it('refuses a used token, an expired token, a token of another tenant and a bad key, each with its status', async () => {
    const gateway = devicesAs('gateway');
    const used = await issue('acme');
    await gateway.enroll({ tenant: 'acme', token: used, publicKey: publicKey() });
    const reuse = await refusal(gateway.enroll({ tenant: 'acme', token: used, publicKey: publicKey() }));
    expect(reuse).toMatchObject({ reason: 'used-token', grpcCode: status.PERMISSION_DENIED });
    expect(reuse.message).toMatch(/already used/);

    const short = await issue('acme', 1000);
    await new Promise((r) => setTimeout(r, 1100));
    expect(await refusal(gateway.enroll({ tenant: 'acme', token: short, publicKey: publicKey() }))).toMatchObject({ reason: 'expired-token', grpcCode: status.PERMISSION_DENIED });

    const acmeToken = await issue('acme');
    await issue('globex'); // globex has a record, with tokens of its own
    expect(await refusal(gateway.enroll({ tenant: 'globex', token: acmeToken, publicKey: publicKey() }))).toMatchObject({ reason: 'invalid-token', grpcCode: status.PERMISSION_DENIED });
    expect(await refusal(gateway.enroll({ tenant: 'acme', token: acmeToken, publicKey: new Uint8Array(32) }))).toMatchObject({ reason: 'invalid-request', grpcCode: status.INVALID_ARGUMENT });
    expect(await refusal(gateway.enroll({ tenant: 'acme', token: acmeToken, publicKey: key }))).toMatchObject({ reason: 'revoked-key', grpcCode: status.FAILED_PRECONDITION });
    // None of the refusals spent the token.
    await expect(gateway.enroll({ tenant: 'acme', token: acmeToken, publicKey: publicKey() })).resolves.toMatchObject({ state: 'active' });
  });

  it('the client identity may not issue tokens, list, revoke, read or enroll devices; the gateway reads no device and no key', async () => {
    const client = as(new KeystoreAdminClient({ address: ks.address, tls: env.pki.files('client') }));
    await expect(client.createDeviceEnrollment('acme')).rejects.toBeInstanceOf(KeystorePermissionDeniedError);
    await expect(client.listDevices('acme')).rejects.toBeInstanceOf(KeystorePermissionDeniedError);
    await expect(client.revokeDevice('acme', enrolledId)).rejects.toBeInstanceOf(KeystorePermissionDeniedError);
    const token = await issue('acme');
    await expect(devicesAs('client').enroll({ tenant: 'acme', token, publicKey: publicKey() })).rejects.toBeInstanceOf(KeystorePermissionDeniedError);
    await expect(devicesAs('client').getDevices('acme')).rejects.toBeInstanceOf(KeystorePermissionDeniedError);
    const registry = as(new KeystoreDeviceRegistry({ address: ks.address, tls: env.pki.files('client') }));
    await expect(new KeystoreSenderPolicy(registry).prepare('acme')).rejects.toBeInstanceOf(KeystorePermissionDeniedError);

    await expect(devicesAs('gateway').getDevices('acme')).rejects.toBeInstanceOf(KeystorePermissionDeniedError);
    await admin().createKeyRing('acme', 'default');
    const gwKeys = as(new KeystoreKeyProvider({ address: ks.address, tls: env.pki.files('gateway'), sealReports: false }));
    await expect(gwKeys.primaryKey({ tenant: 'acme', ring: 'default' })).rejects.toBeInstanceOf(KeystorePermissionDeniedError);
    await expect(as(new KeystoreAdminClient({ address: ks.address, tls: env.pki.files('gateway') })).listDevices('acme')).rejects.toBeInstanceOf(KeystorePermissionDeniedError);
    // The token was not spent by the client's attempt.
    await expect(devicesAs('gateway').enroll({ tenant: 'acme', token, publicKey: publicKey() })).resolves.toMatchObject({ state: 'active' });
  });

  it('a restart keeps devices and used tokens; audit lines name devices and token ids, never a token', async () => {
    const before = await admin().listDevices('acme');
    const used = tokens[0]!;
    await ks.stop();
    ks = await startKeystoreProcess(env);
    expect(await admin().listDevices('acme')).toEqual(before);
    expect(await refusal(devicesAs('gateway').enroll({ tenant: 'acme', token: used, publicKey: publicKey() }))).toMatchObject({ reason: 'used-token' });

    const audit = await env.readAudit();
    const secrets = tokens.map((t) => t.split('.')[1]!);
    const auditText = readFileSync(env.auditLog, 'utf8');
    const { stdout, stderr } = ks.output();
    for (const s of secrets) {
      expect(auditText).not.toContain(s);
      expect(stdout + stderr).not.toContain(s);
    }
    const enrolled = audit.filter((e) => e.action === 'EnrollDevice' && e.outcome === 'OK');
    expect(enrolled.length).toBeGreaterThanOrEqual(4);
    expect(enrolled.every((e) => e.identity === 'spiffe://fle.local/gateway' && /^dev_/.test(e.device ?? '') && typeof e.enrollment === 'string' && typeof e.generation === 'number')).toBe(true);
    expect(audit).toContainEqual(expect.objectContaining({ action: 'RevokeDevice', tenant: 'acme', device: enrolledId, outcome: 'OK', identity: 'spiffe://fle.local/admin' }));
    expect(audit.filter((e) => e.action === 'CreateDeviceEnrollment' && e.outcome === 'OK')).toHaveLength(tokens.length);
    expect(audit).toContainEqual(expect.objectContaining({ action: 'EnrollDevice', identity: 'spiffe://fle.local/client', allowed: false, outcome: 'PERMISSION_DENIED' }));
    expect(audit).toContainEqual(expect.objectContaining({ action: 'GetDevices', identity: 'spiffe://fle.local/gateway', allowed: false, reason: 'identity is denied by policy' }));
  });
});
