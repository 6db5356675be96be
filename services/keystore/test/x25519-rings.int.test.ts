// X25519 key rings (HPKE, envelope alg 3/4) on the real keystore process over
// real mTLS: a `fetch-public` client gets the primary's public key and nothing
// else; a `fetch` processor gets the private keys; the gateway gets nothing;
// versions follow the same states and staged rotation as symmetric rings.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { KeystoreAdminClient, KeystoreKeyProvider, KeystorePermissionDeniedError, KeystorePublicKeyProvider } from '@fle/keystore-client';
import { channelCredentials } from '@fle/pki';
import {
  KeyAlg,
  KeyKind,
  KeystoreAdminServiceClient,
  KeystoreServiceClient,
  KeyVersionState,
  type KeyMaterial,
} from '@fle/schema/gen/fle/keystore/v1/keystore.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnknownKeyRingError } from '@fle/field-crypto';
import { createKeystoreTestEnv, startKeystoreProcess, type KeystoreProcess, type KeystoreTestEnv } from '../src/testing.js';

const POLICY = {
  deny: ['spiffe://fle.local/gateway'],
  fetch: [{ identity: 'spiffe://fle.local/processor', tenants: ['*'] }],
  'fetch-public': [
    { identity: 'spiffe://fle.local/client', tenants: ['acme'] },
    // would match the gateway too: the deny list still wins
    { identity: 'spiffe://fle.local/*', tenants: ['acme'] },
  ],
  admin: [{ identity: 'spiffe://fle.local/admin', tenants: ['*'] }],
};

let env: KeystoreTestEnv;
let ks: KeystoreProcess;
let admin: KeystoreAdminClient;
const closers: Array<{ close(): void }> = [];

function raw(identity: string): KeystoreServiceClient {
  const c = new KeystoreServiceClient(ks.address, channelCredentials(env.pki.files(identity), { expectedServerIdentity: 'spiffe://fle.local/keystore' }), {
    'grpc.use_local_subchannel_pool': 1,
  });
  closers.push(c);
  return c;
}

function call<T>(fn: (cb: (err: grpc.ServiceError | null, res: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, res) => (err ? reject(err) : resolve(res))));
}

const deadline = () => ({ deadline: Date.now() + 5000 });
const primaryOf = (c: KeystoreServiceClient, tenant: string, ring: string) =>
  call<{ key?: KeyMaterial }>((cb) => c.getPrimaryKey({ tenant, ring }, new grpc.Metadata(), deadline(), cb)).then((r) => r.key!);
const versionOf = (c: KeystoreServiceClient, tenant: string, ring: string, version: number) =>
  call<{ key?: KeyMaterial }>((cb) => c.getKeyVersion({ tenant, ring, version }, new grpc.Metadata(), deadline(), cb)).then((r) => r.key!);
const publicOf = (c: KeystoreServiceClient, tenant: string, ring: string) =>
  call<{ key?: { x25519PublicKey: Uint8Array; info?: { version: number; state: number; kind: number; alg: number } } }>((cb) =>
    c.getPublicKey({ tenant, ring }, new grpc.Metadata(), deadline(), cb),
  ).then((r) => r.key!);

/** X25519 pk(sk) by OpenSSL through node:crypto JWK import (independent of the keystore's own derivation). */
function publicKeyOf(privateKey: Uint8Array): string {
  const jwk = createPublicKey(
    createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), privateKey]), format: 'der', type: 'pkcs8' }),
  ).export({ format: 'jwk' });
  return Buffer.from(jwk.x!, 'base64url').toString('hex');
}
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

beforeAll(async () => {
  env = await createKeystoreTestEnv({ policy: POLICY });
  ks = await startKeystoreProcess(env);
  admin = new KeystoreAdminClient({ address: ks.address, tls: env.pki.files('admin') });
  closers.push(admin);
  const v1 = await admin.createKeyRing('acme', 'default', { alg: 3 });
  expect(v1).toMatchObject({ version: 1, alg: 3, state: 'primary' });
  await admin.createKeyRing('acme', 'pci', { alg: 3 });
  await admin.createKeyRing('acme', 'sym'); // symmetric
  await admin.createKeyRing('globex', 'default', { alg: 3 });
});

afterAll(async () => {
  for (const c of closers) c.close();
  await ks?.stop();
  env?.cleanup();
});

describe('X25519 key rings over mTLS', () => {
  it('the client gets the primary public key, and PERMISSION_DENIED for the private key', async () => {
    const client = raw('client');
    const pub = await publicOf(client, 'acme', 'default');
    expect(pub.x25519PublicKey).toHaveLength(32);
    expect(pub.info).toMatchObject({ version: 1, state: KeyVersionState.KEY_VERSION_STATE_PRIMARY, kind: KeyKind.KEY_KIND_X25519, alg: KeyAlg.KEY_ALG_HPKE_X25519_CHACHA20_POLY1305 });
    for (const attempt of [() => primaryOf(client, 'acme', 'default'), () => versionOf(client, 'acme', 'default', 1)]) {
      await expect(attempt()).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    }
    // Only the tenants its rule names.
    await expect(publicOf(client, 'globex', 'default')).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
  });

  it('the processor gets the private key; its public key is the one clients get', async () => {
    const proc = raw('processor');
    const m = await primaryOf(proc, 'acme', 'default');
    expect(m.info).toMatchObject({ version: 1, kind: KeyKind.KEY_KIND_X25519, alg: KeyAlg.KEY_ALG_HPKE_X25519_CHACHA20_POLY1305 });
    expect(m.x25519PrivateKey).toHaveLength(32);
    expect(m.symmetricKey).toHaveLength(0);
    expect(hex(m.x25519PublicKey)).toBe(publicKeyOf(m.x25519PrivateKey));
    expect(hex((await publicOf(raw('client'), 'acme', 'default')).x25519PublicKey)).toBe(hex(m.x25519PublicKey));
    // `fetch` implies `fetch-public`; rings are separate key pairs.
    expect(hex((await publicOf(proc, 'globex', 'default')).x25519PublicKey)).not.toBe(hex(m.x25519PublicKey));
    expect(hex((await publicOf(proc, 'acme', 'pci')).x25519PublicKey)).not.toBe(hex(m.x25519PublicKey));
  });

  it('the gateway gets nothing, not even a public key; the audit log records GetPublicKey without key bytes', async () => {
    const gw = raw('gateway');
    for (const attempt of [() => publicOf(gw, 'acme', 'default'), () => primaryOf(gw, 'acme', 'default'), () => versionOf(gw, 'acme', 'default', 1)]) {
      await expect(attempt()).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    }
    const audit = await env.readAudit();
    expect(audit.find((e) => e.identity === 'spiffe://fle.local/client' && e.action === 'GetPublicKey' && e.allowed)).toMatchObject({ tenant: 'acme', ring: 'default', version: 1, outcome: 'OK', reason: 'fetch-public[0]' });
    expect(audit.find((e) => e.identity === 'spiffe://fle.local/gateway' && e.action === 'GetPublicKey')).toMatchObject({ allowed: false, reason: 'identity is denied by policy' });
    const priv = (await primaryOf(raw('processor'), 'acme', 'default')).x25519PrivateKey;
    const text = readFileSync(env.auditLog, 'utf8');
    for (const enc of ['hex', 'base64', 'base64url'] as const) expect(text).not.toContain(Buffer.from(priv).toString(enc));
  });

  it('staged rotation: a pending key pair reaches the processor first, clients only after promotion; destroyed is gone', async () => {
    const client = raw('client');
    const proc = raw('processor');
    const v1 = await primaryOf(proc, 'acme', 'pci');
    const pending = await admin.rotate('acme', 'pci');
    expect(pending).toMatchObject({ version: 2, state: 'pending', alg: 3 });
    const v2 = await versionOf(proc, 'acme', 'pci', 2);
    expect(v2.info?.state).toBe(KeyVersionState.KEY_VERSION_STATE_PENDING);
    expect(hex(v2.x25519PrivateKey)).not.toBe(hex(v1.x25519PrivateKey));
    expect((await publicOf(client, 'acme', 'pci')).info?.version).toBe(1); // never a pending key to seal to
    await admin.promote('acme', 'pci', 2);
    const pub2 = await publicOf(client, 'acme', 'pci');
    expect(pub2.info?.version).toBe(2);
    expect(hex(pub2.x25519PublicKey)).toBe(hex(v2.x25519PublicKey));
    expect((await versionOf(proc, 'acme', 'pci', 1)).info?.state).toBe(KeyVersionState.KEY_VERSION_STATE_DECRYPT_ONLY);
    await admin.disable('acme', 'pci', 1);
    await expect(versionOf(proc, 'acme', 'pci', 1)).rejects.toMatchObject({ code: grpc.status.FAILED_PRECONDITION });
    await admin.destroy('acme', 'pci', 1);
    await expect(versionOf(proc, 'acme', 'pci', 1)).rejects.toMatchObject({ code: grpc.status.FAILED_PRECONDITION });
    const stored = readFileSync(env.storePath, 'utf8');
    const ring = (JSON.parse(stored) as { rings: Record<string, { record: { kind: string; versions: { version: number; wrapped: string | null }[] } }> }).rings;
    const pci = Object.values(ring).find((r) => r.record.kind === 'x25519' && r.record.versions.some((v) => v.version === 2 && v.wrapped))!;
    expect(pci.record.versions.find((v) => v.version === 1)!.wrapped).toBeNull();
    for (const enc of ['hex', 'base64'] as const) expect(stored).not.toContain(Buffer.from(v2.x25519PrivateKey).toString(enc));
  });

  it('kind and alg must agree; a symmetric ring has no public key', async () => {
    await expect(publicOf(raw('processor'), 'acme', 'sym')).rejects.toMatchObject({ code: grpc.status.FAILED_PRECONDITION });
    await expect(publicOf(raw('processor'), 'acme', 'nope')).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    const adminRaw = new KeystoreAdminServiceClient(ks.address, channelCredentials(env.pki.files('admin'), { expectedServerIdentity: 'spiffe://fle.local/keystore' }));
    closers.push(adminRaw);
    const create = (kind: KeyKind, alg: KeyAlg) =>
      call((cb) => adminRaw.createKeyRing({ tenant: 'acme', ring: `r${kind}${alg}`, kind, alg }, new grpc.Metadata(), deadline(), cb));
    await expect(create(KeyKind.KEY_KIND_X25519, KeyAlg.KEY_ALG_CHACHA20_POLY1305)).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    await expect(create(KeyKind.KEY_KIND_SYMMETRIC, KeyAlg.KEY_ALG_HPKE_X25519_CHACHA20_POLY1305)).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    await expect(create(KeyKind.KEY_KIND_X25519, KeyAlg.KEY_ALG_UNSPECIFIED)).resolves.toMatchObject({ version: { alg: KeyAlg.KEY_ALG_HPKE_X25519_CHACHA20_POLY1305 } });
  });

  it('KeystoreKeyProvider hands a processor the private key as alg 3 material; the client is refused it', async () => {
    const keys = new KeystoreKeyProvider({ address: ks.address, tls: env.pki.files('processor'), channelOptions: { 'grpc.use_local_subchannel_pool': 1 } });
    closers.push(keys);
    const m = await keys.primaryKey({ tenant: 'acme', ring: 'default' });
    expect(m.alg).toBe(3);
    expect(hex(m.key.exposeBytes())).toBe(hex((await primaryOf(raw('processor'), 'acme', 'default')).x25519PrivateKey));
    const clientKeys = new KeystoreKeyProvider({ address: ks.address, tls: env.pki.files('client'), channelOptions: { 'grpc.use_local_subchannel_pool': 1 } });
    closers.push(clientKeys);
    await expect(clientKeys.keyVersion({ tenant: 'acme', ring: 'default' }, 1)).rejects.toBeInstanceOf(KeystorePermissionDeniedError);
  });

  it('KeystorePublicKeyProvider: cached public key for clients, typed errors', async () => {
    const recipients = new KeystorePublicKeyProvider({ address: ks.address, tls: env.pki.files('client'), channelOptions: { 'grpc.use_local_subchannel_pool': 1 } });
    closers.push(recipients);
    const a = await recipients.recipientKey({ tenant: 'acme', ring: 'default' });
    expect(a.version).toBe(1);
    expect(hex(a.publicKey)).toBe(hex((await publicOf(raw('client'), 'acme', 'default')).x25519PublicKey));
    const before = (await env.readAudit()).filter((e) => e.action === 'GetPublicKey').length;
    await Promise.all(Array.from({ length: 5 }, () => recipients.recipientKey({ tenant: 'acme', ring: 'default' })));
    expect((await env.readAudit()).filter((e) => e.action === 'GetPublicKey').length).toBe(before); // served from the cache
    await expect(recipients.recipientKey({ tenant: 'globex', ring: 'default' })).rejects.toBeInstanceOf(KeystorePermissionDeniedError);
    await expect(recipients.recipientKey({ tenant: 'acme', ring: 'sym' })).rejects.toBeInstanceOf(UnknownKeyRingError);
  });
});
