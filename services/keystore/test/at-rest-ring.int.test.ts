// Issue 17 item 5, keystore side: data at rest is sealed under a ring that only
// the storing service may fetch (DESIGN.md "Keys"). Over real mTLS: the client
// identity, which may fetch its tenant's request rings, is refused the
// `records` ring, whether the policy names the client's rings one by one or
// gives it the whole tenant and marks `records` exclusive to the processor.
import { KeystoreAdminClient, KeystoreKeyProvider, KeystorePermissionDeniedError, KeystorePublicKeyProvider } from '@fle/keystore-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyDocument } from '../src/policy.js';
import { createKeystoreTestEnv, startKeystoreProcess, type KeystoreProcess, type KeystoreTestEnv } from '../src/testing.js';

let env: KeystoreTestEnv;
let ks: KeystoreProcess;
const closers: Array<{ close(): void }> = [];
const records = { tenant: 'demo', ring: 'records' };

/** The client may have the whole demo tenant, except what is exclusive. */
const EXCLUSIVE: PolicyDocument = {
  deny: ['spiffe://fle.local/gateway'],
  fetch: [
    { identity: 'spiffe://fle.local/processor', tenants: ['*'] },
    { identity: 'spiffe://fle.local/client', tenants: ['demo'] },
  ],
  'fetch-public': [{ identity: 'spiffe://fle.local/client', tenants: ['demo'] }],
  admin: [{ identity: 'spiffe://fle.local/admin', tenants: ['*'] }],
  exclusive: [{ rings: ['records'], identities: ['spiffe://fle.local/processor'] }],
};

/** The client's rings named one by one. */
const NAMED: PolicyDocument = {
  deny: ['spiffe://fle.local/gateway'],
  fetch: [
    { identity: 'spiffe://fle.local/processor', tenants: ['*'] },
    { identity: 'spiffe://fle.local/client', tenants: ['demo'], rings: ['default', 'pci'] },
  ],
  admin: [{ identity: 'spiffe://fle.local/admin', tenants: ['*'] }],
};

function keys(identity: string): KeystoreKeyProvider {
  const p = new KeystoreKeyProvider({
    address: ks.address,
    tls: env.pki.files(identity),
    negativeTtlMs: 0,
    sealReports: false,
    channelOptions: { 'grpc.use_local_subchannel_pool': 1 },
  });
  closers.push(p);
  return p;
}

/**
 * Writes the policy and sends SIGHUP; resolves once the keystore decides as the
 * new policy does on the client fetching `probeRing`.
 */
async function reload(policy: PolicyDocument, probeRing: string, clientGetsIt: boolean): Promise<void> {
  env.writePolicy(policy);
  ks.child.kill('SIGHUP');
  const probe = keys('client');
  const deadline = Date.now() + 10_000;
  for (;;) {
    const got = await probe.primaryKey({ tenant: 'demo', ring: probeRing }).then(() => true, () => false);
    if (got === clientGetsIt) return;
    if (Date.now() > deadline) throw new Error('the keystore did not apply the new policy');
    probe.clear();
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  env = await createKeystoreTestEnv({ policy: EXCLUSIVE });
  ks = await startKeystoreProcess(env);
  const admin = new KeystoreAdminClient({ address: ks.address, tls: env.pki.files('admin') });
  closers.push(admin);
  for (const ring of ['default', 'pci', 'records', 'other']) await admin.createKeyRing('demo', ring);
  await admin.createKeyRing('demo', 'records-hpke', { alg: 3 });
  await admin.rotate('demo', 'records');
});

afterAll(async () => {
  for (const c of closers) c.close();
  await ks?.stop();
  env?.cleanup();
});

describe('an at-rest ring only the storing service may fetch', () => {
  // `demo/other`: only the tenant-wide client rule of EXCLUSIVE gives it to the client.
  for (const [name, policy, getsOther] of [
    ['exclusive to the processor', EXCLUSIVE, true],
    ['left out of the client rule', NAMED, false],
  ] as const) {
    it(`${name}: the client is denied the records ring, the processor gets it`, async () => {
      await reload(policy, 'other', getsOther);
      const client = keys('client');
      const processor = keys('processor');
      await expect(client.primaryKey(records)).rejects.toBeInstanceOf(KeystorePermissionDeniedError);
      for (const v of [1, 2]) await expect(client.keyVersion(records, v)).rejects.toBeInstanceOf(KeystorePermissionDeniedError);
      // its request rings still work
      expect((await client.primaryKey({ tenant: 'demo', ring: 'default' })).version).toBe(1);
      expect((await client.primaryKey({ tenant: 'demo', ring: 'pci' })).version).toBe(1);
      // the storing service seals and opens under it
      expect((await processor.primaryKey(records)).version).toBe(1);
      expect((await processor.keyVersion(records, 2)).version).toBe(2);
      const audit = (await env.readAudit()).filter((e) => e.identity === 'spiffe://fle.local/client' && e.ring === 'records');
      expect(audit.length).toBeGreaterThanOrEqual(3);
      expect(audit.every((e) => !e.allowed && e.outcome === 'PERMISSION_DENIED')).toBe(true);
    });
  }

  it('exclusive covers the public key of an X25519 at-rest ring too', async () => {
    await reload(EXCLUSIVE, 'records-hpke', true); // the client's tenant-wide rule hands it this ring's private key…
    await reload({ ...EXCLUSIVE, exclusive: [{ rings: ['records*'], identities: ['spiffe://fle.local/processor'] }] }, 'records-hpke', false); // …exclusive does not
    const pub = new KeystorePublicKeyProvider({ address: ks.address, tls: env.pki.files('client'), channelOptions: { 'grpc.use_local_subchannel_pool': 1 } });
    closers.push(pub);
    await expect(pub.recipientKey({ tenant: 'demo', ring: 'records-hpke' })).rejects.toMatchObject({ code: 'KEYSTORE_PERMISSION_DENIED' });
    expect((await keys('processor').primaryKey({ tenant: 'demo', ring: 'records-hpke' })).alg).toBe(3);
  });
});
