// Issue 17 item 6 against the real keystore over mTLS: a request naming an
// unknown tenant costs one keystore fetch (one audit line) per ring and
// negative TTL, whatever key versions it names, because the keystore-client
// cache remembers "key ring ... does not exist" for the whole ring; and to a
// caller an unknown tenant fails exactly as a forged envelope does.
import { compileSchema, DecryptionError, FieldCipher, UnknownKeyRingError, UnknownKeyVersionError } from '@fle/field-crypto';
import { KeystoreAdminClient, KeystoreKeyProvider } from '@fle/keystore-client';
import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeystoreTestEnv, startKeystoreProcess, type KeystoreProcess, type KeystoreTestEnv } from '../src/testing.js';

let env: KeystoreTestEnv;
let ks: KeystoreProcess;
const closers: Array<{ close(): void }> = [];

function provider(): KeystoreKeyProvider {
  const p = new KeystoreKeyProvider({ address: ks.address, tls: env.pki.files('processor'), negativeTtlMs: 60_000, channelOptions: { 'grpc.use_local_subchannel_pool': 1 } });
  closers.push(p);
  return p;
}

beforeAll(async () => {
  env = await createKeystoreTestEnv();
  ks = await startKeystoreProcess(env);
  const admin = new KeystoreAdminClient({ address: ks.address, tls: env.pki.files('admin') });
  closers.push(admin);
  await admin.createKeyRing('acme', 'default');
});

afterAll(async () => {
  for (const c of closers) c.close();
  await ks?.stop();
  env?.cleanup();
});

const ghostLines = async () => (await env.readAudit()).filter((e) => e.tenant === 'ghost').length;

describe('unknown tenants at the keystore-client cache', () => {
  it('one fetch and one audit line for an unknown ring, whatever versions are asked for', async () => {
    const keys = provider();
    for (let v = 1; v <= 6; v++) await expect(keys.keyVersion({ tenant: 'ghost', ring: 'default' }, v)).rejects.toBeInstanceOf(UnknownKeyVersionError);
    await expect(keys.primaryKey({ tenant: 'ghost', ring: 'default' })).rejects.toBeInstanceOf(UnknownKeyRingError);
    expect(keys.stats().fetches).toBe(1);
    expect(await ghostLines()).toBe(1);
    // A known ring's unknown version does not make the ring unknown.
    await expect(keys.keyVersion({ tenant: 'acme', ring: 'default' }, 9)).rejects.toBeInstanceOf(UnknownKeyVersionError);
    expect((await keys.keyVersion({ tenant: 'acme', ring: 'default' }, 1)).version).toBe(1);
    expect(keys.stats().fetches).toBe(3);
  });

  it('to a caller, an unknown tenant fails as a forged envelope does', async () => {
    const root = protobuf.parse(`syntax = "proto3"; package t.v1;
      message M { option (fle.v1.tenant_field) = "tenant_id"; string tenant_id = 1; string secret = 2 [(fle.v1.sensitive) = true]; }`).root;
    const schema = compileSchema(root);
    const cipher = new FieldCipher({ schema, keys: provider() });
    const sealed = await cipher.sealMessage('t.v1.M', { tenantId: 'acme', secret: 's' });
    const env = Buffer.from(sealed.secret, 'base64url');
    env[env.length - 1]! ^= 1; // a tag bit
    const forged = { ...sealed, secret: env.toString('base64url') };
    const failure = (m: typeof sealed) => cipher.openMessage('t.v1.M', m).then(() => undefined, (e: unknown) => e as DecryptionError);
    const [unknownTenant, forgedEnvelope] = await Promise.all([failure({ ...sealed, tenantId: 'ghost' }), failure(forged)]);
    for (const e of [unknownTenant, forgedEnvelope]) {
      expect(e).toBeInstanceOf(DecryptionError);
      expect({ code: e!.code, message: e!.message }).toEqual({ code: 'DECRYPTION_FAILED', message: 'decryption failed (field 2)' });
    }
  });
});
