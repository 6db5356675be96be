// The NATS JetStream KV backend shared by two keystore processes (real
// nats-server with mTLS and the fle per-identity permissions).
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { generateKeyPairSync } from 'node:crypto';
import { KeystoreAdminClient, KeystoreDeviceClient, KeystoreDeviceRegistry, KeystoreKeyProvider } from '@fle/keystore-client';
import { createDevPki, type DevPki } from '@fle/pki';
import { startNats, type NatsHarness } from '@fle/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { runKeystore } from '../src/service.js';
import { KEYSTORE_BUCKET } from '../src/storage/nats-kv.js';
import { DEFAULT_TEST_POLICY, createKeystoreTestEnv, startKeystoreProcess, type KeystoreProcess, type KeystoreTestEnv } from '../src/testing.js';

let root: string;
let pki: DevPki;
let nats: NatsHarness;
const envs: KeystoreTestEnv[] = [];
const procs: KeystoreProcess[] = [];
const closers: Array<{ close(): void }> = [];
let a: KeystoreAdminClient;
let b: KeystoreAdminClient;
let procA: KeystoreProcess;
let procB: KeystoreProcess;
const MASTER = 'c0'.repeat(32);

async function env(masterKeyHex: string): Promise<KeystoreTestEnv> {
  const e = await createKeystoreTestEnv({
    dir: mkdtempSync(join(root, 'ks-')),
    pki,
    masterKeyHex,
    storage: { kind: 'nats', url: nats.urls[0]!, tls: pki.files('keystore') },
    policy: { ...DEFAULT_TEST_POLICY, enroll: [{ identity: 'spiffe://fle.local/gateway', tenants: ['*'] }] },
  });
  envs.push(e);
  return e;
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'fle-ks-nats-'));
  pki = await createDevPki({ dir: join(root, 'certs') });
  nats = await startNats({ tls: pki, users: 'fle' });
  const [ea, eb] = await Promise.all([env(MASTER), env(MASTER)]);
  [procA, procB] = await Promise.all([startKeystoreProcess(ea), startKeystoreProcess(eb)]);
  procs.push(procA, procB);
  a = new KeystoreAdminClient({ address: procA.address, tls: pki.files('admin') });
  b = new KeystoreAdminClient({ address: procB.address, tls: pki.files('admin') });
  closers.push(a, b);
});

afterAll(async () => {
  for (const c of closers) c.close();
  await Promise.all(procs.map((p) => p.stop()));
  await nats?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('NATS KV storage shared by two keystore instances', () => {
  it('a change made through one instance is served by the other, with the same key bytes', async () => {
    await a.createKeyRing('acme', 'default');
    expect((await b.rotate('acme', 'default')).version).toBe(2);
    await a.promote('acme', 'default', 2);
    const viaA = new KeystoreKeyProvider({ address: procA.address, tls: pki.files('processor') });
    const viaB = new KeystoreKeyProvider({ address: procB.address, tls: pki.files('processor') });
    closers.push(viaA, viaB);
    const pa = await viaA.primaryKey({ tenant: 'acme', ring: 'default' });
    const pb = await viaB.primaryKey({ tenant: 'acme', ring: 'default' });
    expect(pa.version).toBe(2);
    expect(pb.version).toBe(2);
    expect(Buffer.from(pa.key.exposeBytes())).toEqual(Buffer.from(pb.key.exposeBytes()));
    expect((await b.listRings('acme')).map((r) => r.primaryVersion)).toEqual([2]);
  });

  it('concurrent admins on both instances never lose an update (KV revision compare-and-set)', async () => {
    await a.createKeyRing('race', 'default');
    const ROUNDS = 6;
    for (let round = 1; round <= ROUNDS; round++) {
      // both instances rotate at once: exactly one pending version may result
      const rotations = await Promise.allSettled([a.rotate('race', 'default'), b.rotate('race', 'default'), a.rotate('race', 'default'), b.rotate('race', 'default')]);
      const won = rotations.filter((r) => r.status === 'fulfilled');
      expect(won).toHaveLength(1);
      for (const r of rotations) if (r.status === 'rejected') expect(String(r.reason)).toMatch(/FAILED_PRECONDITION: .*already has pending version/);
      const v = (won[0] as PromiseFulfilledResult<{ version: number }>).value.version;
      expect(v).toBe(round + 1);
      // both promote at once: one wins, the other finds it already primary
      const promotions = await Promise.allSettled([a.promote('race', 'default', v), b.promote('race', 'default', v)]);
      expect(promotions.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    }
    const versions = await b.listVersions('race', 'default');
    expect(versions.map((v) => v.version)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(versions.filter((v) => v.state === 'primary').map((v) => v.version)).toEqual([ROUNDS + 1]);
  });

  it('destroying a version erases its wrapped key from the bucket (history 1)', async () => {
    await a.createKeyRing('gone', 'default');
    await a.rotate('gone', 'default');
    await b.promote('gone', 'default', 2);
    const nc = await nats.connect('keystore');
    const kv = await nc.jetstream().views.kv(KEYSTORE_BUCKET, { bindOnly: true });
    const before = JSON.parse((await kv.get('ring.gone.default'))!.string()) as { record: { versions: Array<{ wrapped: string | null }> } };
    const wrapped = before.record.versions[0]!.wrapped!;
    await b.disable('gone', 'default', 1);
    await a.destroy('gone', 'default', 1);
    const history: string[] = [];
    for await (const e of await kv.history({ key: 'ring.gone.default' })) history.push(e.string());
    expect(history).toHaveLength(1);
    expect(history.join('')).not.toContain(wrapped);
    expect(JSON.parse(history[0]!).record.versions[0]).toMatchObject({ state: 'destroyed', wrapped: null });
    const viaB = new KeystoreKeyProvider({ address: procB.address, tls: pki.files('processor'), negativeTtlMs: 0 });
    closers.push(viaB);
    await expect(viaB.keyVersion({ tenant: 'gone', ring: 'default' }, 1)).rejects.toMatchObject({ code: 'UNKNOWN_KEY_VERSION' });
  });

  it('device records: a token issued on one instance is redeemed once across both, the device read from either', async () => {
    const { token } = await a.createDeviceEnrollment('acme');
    const gwA = new KeystoreDeviceClient({ address: procA.address, tls: pki.files('gateway') });
    const gwB = new KeystoreDeviceClient({ address: procB.address, tls: pki.files('gateway') });
    const reg = new KeystoreDeviceRegistry({ address: procB.address, tls: pki.files('processor') });
    closers.push(gwA, gwB, reg);
    const key = (): Uint8Array => {
      const spki = generateKeyPairSync('x25519').publicKey.export({ format: 'der', type: 'spki' });
      return new Uint8Array(spki.subarray(spki.length - 32));
    };
    const tries = await Promise.allSettled([gwA, gwB, gwA, gwB].map((c) => c.enroll({ tenant: 'acme', token, publicKey: key() })));
    const won = tries.filter((r): r is PromiseFulfilledResult<Awaited<ReturnType<KeystoreDeviceClient['enroll']>>> => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const r of tries) if (r.status === 'rejected') expect(r.reason).toMatchObject({ reason: 'used-token' });
    const d = won[0]!.value;
    expect((await reg.devices('acme')).devices.map((x) => x.id)).toEqual([d.id]);
    await a.revokeDevice('acme', d.id);
    expect(await b.listDevices('acme')).toEqual([expect.objectContaining({ id: d.id, state: 'revoked' })]);
    const nc = await nats.connect('keystore');
    const kv = await nc.jetstream().views.kv(KEYSTORE_BUCKET, { bindOnly: true });
    const stored = (await kv.get('devices.acme'))!.string();
    expect(stored).not.toContain(token.split('.')[1]!);
    expect(JSON.parse(stored)).toMatchObject({ record: { tenant: 'acme', generation: 3 }, mac: expect.any(String) });
    await nc.close();
  });

  it('an instance with another master key refuses to start on the shared bucket', async () => {
    // Startup checks run in this process (runKeystore is what main.ts runs): no third process needed.
    const wrong = await env('0d'.repeat(32));
    wrong.writeConfig();
    const started = runKeystore(loadConfig(wrong.configPath)).then(
      async (k) => (await k.close(), 'started'),
      (e: Error) => e.message,
    );
    expect(await started).toMatch(/bucket was written under master key [0-9a-f]{16}, not [0-9a-f]{16}/);
  });
});
