// The keystore killed mid-run: the client cache serves what it has, then gives
// the typed error after TTL + grace, then recovers when the keystore returns.
import { type KeyRingRef } from '@fle/field-crypto';
import { KeystoreAdminClient, KeystoreKeyProvider, KeystoreUnavailableError } from '@fle/keystore-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeystoreTestEnv, startKeystoreProcess, type KeystoreProcess, type KeystoreTestEnv } from '../src/testing.js';

let env: KeystoreTestEnv;
let ks: KeystoreProcess;
const closers: Array<{ close(): void }> = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ref: KeyRingRef = { tenant: 'acme', ring: 'default' };

beforeAll(async () => {
  env = await createKeystoreTestEnv();
  ks = await startKeystoreProcess(env);
  const admin = new KeystoreAdminClient({ address: ks.address, tls: env.pki.files('admin') });
  closers.push(admin);
  await admin.createKeyRing(ref.tenant, ref.ring);
  await admin.rotate(ref.tenant, ref.ring);
  await admin.promote(ref.tenant, ref.ring, 2);
  await admin.rotate(ref.tenant, ref.ring); // v3 pending; v1 decrypt-only
});

afterAll(async () => {
  for (const c of closers) c.close();
  await ks?.stop();
  env?.cleanup();
});

describe('keystore outage', () => {
  it('cache serves through the outage, KEYSTORE_UNAVAILABLE after TTL + grace, recovery when it returns', async () => {
    // Generous enough that a loaded machine does not turn "within grace" into "past grace".
    const TTL = 500;
    const GRACE = 1500;
    const keys = new KeystoreKeyProvider({
      address: ks.address,
      tls: env.pki.files('processor'),
      ttlMs: TTL,
      graceMs: GRACE,
      rpcTimeoutMs: 500,
      backoff: { initialMs: 50, maxMs: 200 },
      // The grace path itself: callers past the TTL wait for the (failing) fetch. The refresh window's outage rules are unit-tested.
      refreshWindowMs: 0,
      channelOptions: { 'grpc.use_local_subchannel_pool': 1 },
    });
    closers.push(keys);
    const primary = await keys.primaryKey(ref);
    const pending = await keys.keyVersion(ref, 3);
    const fetchedAt = Date.now(); // both entries were fetched before this

    await ks.kill(); // SIGKILL: no goodbye
    expect(ks.child.signalCode).toBe('SIGKILL');

    // within the TTL: plain cache hits
    expect((await keys.primaryKey(ref)).version).toBe(primary.version);
    // past the TTL, within grace: the refetch fails, the cached key is served
    await sleep(TTL + 50 - (Date.now() - fetchedAt));
    expect(Buffer.from((await keys.primaryKey(ref)).key.exposeBytes())).toEqual(Buffer.from(primary.key.exposeBytes()));
    expect((await keys.keyVersion(ref, 3)).version).toBe(pending.version);
    expect(keys.stats().staleServed).toBeGreaterThanOrEqual(2);
    // a key this process never had cannot be served
    await expect(keys.keyVersion(ref, 1)).rejects.toBeInstanceOf(KeystoreUnavailableError);

    // past TTL + grace: the typed error
    await sleep(TTL + GRACE + 50 - (Date.now() - fetchedAt));
    const err = await keys.primaryKey(ref).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeystoreUnavailableError);
    expect(err).toMatchObject({ code: 'KEYSTORE_UNAVAILABLE', tenant: 'acme', ring: 'default' });

    // the keystore returns on the same address with the same store: the client recovers by itself
    ks = await startKeystoreProcess(env);
    const back = Date.now();
    let recovered: number | undefined;
    while (recovered === undefined && Date.now() - back < 10_000) {
      recovered = await keys.primaryKey(ref).then((m) => m.version, () => undefined);
      if (recovered === undefined) await sleep(50);
    }
    expect(recovered).toBe(2);
    expect(Date.now() - back).toBeLessThan(5000);
    // and the keys are the same ones (the store survived the SIGKILL)
    expect(Buffer.from((await keys.keyVersion(ref, 3)).key.exposeBytes())).toEqual(Buffer.from(pending.key.exposeBytes()));
  });
});
