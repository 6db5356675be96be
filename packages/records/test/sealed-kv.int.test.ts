// Sealed records in NATS KV on a real nats-server (mTLS, per-identity
// permissions, JetStream) with keys from the real keystore process: the
// storing service's identity may fetch the `records` ring, the client's may
// not; revision checks; the rewrap engine against a writer that changes the
// record between its read and its write.
import type { JetStreamClient, KV, NatsConnection } from 'nats';
import { DecryptionError, FieldCipher, type KeyProvider, type KeyRingRef, type KeyVersionMaterial } from '@fle/field-crypto';
import { createKeystoreTestEnv, startKeystoreProcess, type KeystoreProcess, type KeystoreTestEnv } from '@fle/keystore/testing';
import { KeystoreAdminClient, KeystoreKeyProvider } from '@fle/keystore-client';
import { FLE_NATS_PERMISSIONS, kvBucket, natsInbox } from '@fle/nats-setup';
import { DEFAULT_IDENTITIES } from '@fle/pki';
import { makeTestPki, startNats, type NatsHarness } from '@fle/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  encodeSealedRecord,
  envelopeUses,
  openRecord,
  RecordConflictError,
  RecordExistsError,
  recordsUsingVersion,
  rewrapRecords,
  SealedKv,
  decodeSealedRecord,
  scanBucket,
} from '../src/mod.js';
import { codecFor, DOSSIER, Dossiers, dossier, Notes, schema, type Dossier } from './fixtures/schema.js';

const BUCKET = 'fletest_dossiers';
const OTHER_BUCKET = 'fletest_other';
const JS_BASE = ['$JS.API.INFO', '$JS.API.STREAM.NAMES'];

let nats: NatsHarness;
let env: KeystoreTestEnv;
let ks: KeystoreProcess;
let admin: KeystoreAdminClient;
let nc: NatsConnection;
let js: JetStreamClient;
let serviceKeys: KeystoreKeyProvider;
const closers: Array<{ close(): void }> = [];

beforeAll(async () => {
  const pki = await makeTestPki({ identities: [...DEFAULT_IDENTITIES, 'records-service', 'records-other'] });
  nats = await startNats({
    tls: pki,
    users: {
      ...FLE_NATS_PERMISSIONS,
      // The storing service: its own bucket and nothing else.
      'records-service': { publish: [...JS_BASE, ...kvBucket(BUCKET)], subscribe: [natsInbox('records-service')] },
      // Another service, with a bucket of its own.
      'records-other': { publish: [...JS_BASE, ...kvBucket(OTHER_BUCKET)], subscribe: [natsInbox('records-other')] },
    },
  });
  env = await createKeystoreTestEnv({
    pki,
    policy: {
      deny: ['spiffe://fle.local/gateway'],
      fetch: [
        { identity: 'spiffe://fle.local/records-service', tenants: ['*'], rings: ['records', 'default'] },
        // Clients seal requests in the default ring; the records ring is not theirs (docs/records.md).
        { identity: 'spiffe://fle.local/client', tenants: ['*'], rings: ['default'] },
      ],
      admin: [{ identity: 'spiffe://fle.local/admin', tenants: ['*'] }],
    },
  });
  ks = await startKeystoreProcess(env);
  admin = new KeystoreAdminClient({ address: ks.address, tls: pki.files('admin') });
  closers.push(admin);
  for (const tenant of ['ten-a', 'ten-b']) {
    await admin.createKeyRing(tenant, 'records');
    await admin.createKeyRing(tenant, 'default');
  }
  // No cache lifetime to wait out after a promotion in these tests.
  serviceKeys = new KeystoreKeyProvider({ address: ks.address, tls: pki.files('records-service'), ttlMs: 1, refreshWindowMs: 0 });
  closers.push(serviceKeys);
  nc = await nats.connect('records-service');
  js = nc.jetstream();
}, 120_000);

afterAll(async () => {
  for (const c of closers) c.close();
  await nats?.stop();
  await ks?.stop();
  env?.cleanup();
});

async function rawKv(): Promise<KV> {
  return js.views.kv(BUCKET, { bindOnly: true });
}

/** Removes every record (and marker) of the service's bucket. */
async function emptyBucket(): Promise<void> {
  await js.views.kv(BUCKET, { history: 1, maxBucketSize: 16 * 1024 * 1024 });
  await (await js.jetstreamManager()).streams.purge(`KV_${BUCKET}`);
}

async function primaryOf(tenant: string, ring: string): Promise<number> {
  return (await admin.listVersions(tenant, ring)).find((v) => v.state === 'primary')!.version;
}

async function rotate(tenant: string, ring: string): Promise<number> {
  const v = await admin.rotate(tenant, ring);
  await admin.promote(tenant, ring, v.version);
  return v.version;
}

describe('SealedKv on NATS KV', () => {
  it('stores sealed bytes, and reads, updates and deletes with revision checks', async () => {
    const store = await SealedKv.open(js, { bucket: BUCKET, type: Dossiers, schema, keys: serviceKeys });
    const value = dossier('ten-a', 1);
    const rev1 = await store.create('ten-a.1', value);
    await expect(store.create('ten-a.1', value)).rejects.toBeInstanceOf(RecordExistsError);

    const raw = Buffer.from((await (await rawKv()).get('ten-a.1'))!.value);
    for (const secret of ['Subject 1', 'Long Road', 'alias-1-a', 'odd key 1', 'Old Lane']) expect(raw.includes(secret)).toBe(false);
    expect(decodeSealedRecord(raw).typeName).toBe(DOSSIER);

    const read = (await store.get('ten-a.1'))!;
    expect(read).toEqual({ key: 'ten-a.1', value, revision: rev1 });
    const rev2 = await store.update('ten-a.1', { ...read.value, status: 'closed' }, read.revision);
    // a writer that read revision 1 cannot overwrite revision 2
    await expect(store.update('ten-a.1', { ...read.value, status: 'reopened' }, rev1)).rejects.toBeInstanceOf(RecordConflictError);
    expect((await store.get('ten-a.1'))!.value.status).toBe('closed');
    await expect(store.delete('ten-a.1', rev1)).rejects.toBeInstanceOf(RecordConflictError);
    await store.delete('ten-a.1', rev2);
    expect(await store.get('ten-a.1')).toBeUndefined();
  });

  it('a record copied to another key does not open there', async () => {
    const store = await SealedKv.open(js, { bucket: BUCKET, type: Dossiers, schema, keys: serviceKeys });
    await store.put('ten-a.copy-src', dossier('ten-a', 2));
    const kv = await rawKv();
    await kv.put('ten-a.copy-dst', (await kv.get('ten-a.copy-src'))!.value);
    await expect(store.get('ten-a.copy-dst')).rejects.toBeInstanceOf(DecryptionError);
  });

  it("a client's keys cannot open what the service stored (the records ring is the service's)", async () => {
    const store = await SealedKv.open(js, { bucket: BUCKET, type: Dossiers, schema, keys: serviceKeys });
    await store.put('ten-a.ring', dossier('ten-a', 3));
    const clientKeys = new KeystoreKeyProvider({ address: ks.address, tls: nats.pki!.files('client') });
    closers.push(clientKeys);
    const bytes = (await (await rawKv()).get('ten-a.ring'))!.value;
    const asClient = new FieldCipher({ schema, keys: clientKeys });
    await expect(openRecord(asClient, Dossiers, { store: BUCKET, key: 'ten-a.ring' }, bytes)).rejects.toMatchObject({ code: 'KEYSTORE_PERMISSION_DENIED' });
  });

  it("another service's identity cannot read the bucket at all", async () => {
    const other = await nats.connect('records-other');
    const kv = await other.jetstream().views.kv(BUCKET, { bindOnly: true });
    await expect(kv.get('ten-a.ring')).rejects.toThrow();
    await other.close();
  });
});

/** A KeyProvider that runs `during` whenever a key version is asked for: the rewrap asks only when it opens a record to rewrap it. */
class HookedKeys implements KeyProvider {
  constructor(
    private readonly inner: KeyProvider,
    private readonly during: () => Promise<void>,
  ) {}
  primaryKey(ref: KeyRingRef): Promise<KeyVersionMaterial> {
    return this.inner.primaryKey(ref);
  }
  async keyVersion(ref: KeyRingRef, version: number): Promise<KeyVersionMaterial> {
    await this.during();
    return this.inner.keyVersion(ref, version);
  }
}

describe('scanBucket', () => {
  it('visits every live key once, even when working on a pull takes longer than the pull lives', async () => {
    await emptyBucket();
    const kv = await rawKv();
    const keys = Array.from({ length: 600 }, (_, i) => `ten-a.s${i}`);
    for (let i = 0; i < keys.length; i += 100) await Promise.all(keys.slice(i, i + 100).map((k) => kv.put(k, Uint8Array.of(1))));
    for (let i = 0; i < keys.length; i += 4) await kv.put(keys[i]!, Uint8Array.of(2)); // gaps in the stream, keys moved to its end
    await kv.delete(keys[1]!);
    const visited = new Map<string, number>();
    let n = 0;
    await scanBucket(
      js,
      BUCKET,
      async (e) => {
        visited.set(e.key, (visited.get(e.key) ?? 0) + 1);
        // the first pulls are worked on slowly: 40 × 60 ms outlives a pull's 2 s
        if (n++ < 120) await new Promise((r) => setTimeout(r, 60));
      },
      { batch: 40, concurrency: 1 },
    );
    expect([...visited.values()].every((c) => c === 1)).toBe(true);
    expect(visited.size).toBe(599);
    expect(visited.has(keys[1]!)).toBe(false);
  });
});

describe('rewrapRecords', () => {
  const BUCKET2 = BUCKET; // the service's bucket; each test uses its own keys (prefix)

  async function versionsOf(kv: KV, key: string): Promise<number[]> {
    const e = (await kv.get(key))!;
    const { typeName, message } = decodeSealedRecord(e.value);
    return envelopeUses(schema, typeName, codecFor(typeName)!.decode(message)).map((u) => u.keyVersion);
  }

  it('moves every selected record to the primary, skips other tenants, counts what it could not do', async () => {
    const dossiers = await SealedKv.open(js, { bucket: BUCKET2, type: Dossiers, schema, keys: serviceKeys });
    const notes = await SealedKv.open(js, { bucket: BUCKET2, type: Notes, schema, keys: serviceKeys });
    const kv = await rawKv();
    await emptyBucket();
    const before = await primaryOf('ten-a', 'records');
    for (let i = 0; i < 40; i++) await dossiers.create(`ten-a.d${i}`, dossier('ten-a', i));
    for (let i = 0; i < 10; i++) await dossiers.create(`ten-b.d${i}`, dossier('ten-b', i));
    await notes.create('ten-a.n0', { owner: 'ten-a', text: 'note text', memo: 'memo text' });
    await kv.put('ten-a.garbage', Uint8Array.of(1, 2, 3));
    await kv.put('ten-a.alien', encodeSealedRecord('fletest.records.v1.Unknown', Uint8Array.of()));
    const after = await rotate('ten-a', 'records');
    expect(after).toBeGreaterThan(before);
    // written after the promotion: already current
    for (let i = 40; i < 50; i++) await dossiers.create(`ten-a.d${i}`, dossier('ten-a', i));

    const progress: number[] = [];
    const summary = await rewrapRecords({ js, bucket: BUCKET2, schema, keys: serviceKeys, codecFor, tenant: 'ten-a', ring: 'records', concurrency: 4, onProgress: (p) => progress.push(p.seen) });
    expect(summary).toMatchObject({ seen: 63, rewrapped: 41, current: 10, skipped: 10, deleted: 0, failed: 2 });
    expect(summary.failedByReason).toEqual({ not_a_sealed_record: 1, unknown_type: 1 });
    expect(progress.at(-1)).toBe(63);
    for (let i = 0; i < 50; i++) expect(await versionsOf(kv, `ten-a.d${i}`)).toEqual([after]);
    expect(await versionsOf(kv, 'ten-b.d0')).toEqual([await primaryOf('ten-b', 'records')]);
    // the note's default-ring field was sealed again too; its value survived
    expect((await notes.get('ten-a.n0'))!.value).toEqual({ owner: 'ten-a', text: 'note text', memo: 'memo text' });
    expect((await dossiers.get('ten-a.d7'))!.value).toEqual(dossier('ten-a', 7));

    // a second run finds nothing left to do
    const again = await rewrapRecords({ js, bucket: BUCKET2, schema, keys: serviceKeys, codecFor, tenant: 'ten-a' });
    expect(again).toMatchObject({ rewrapped: 0, current: 51, skipped: 10, failed: 2 });

    // the destroy check's count, from the headers alone
    expect(await recordsUsingVersion({ js, bucket: BUCKET2, schema, codecFor, tenant: 'ten-a', ring: 'records', version: before })).toMatchObject({ using: 0, unreadable: 2 });
    expect(await recordsUsingVersion({ js, bucket: BUCKET2, schema, codecFor, tenant: 'ten-a', ring: 'records', version: after })).toMatchObject({ using: 51 });
  });

  it('a record written between its read and its write is read again, never overwritten', async () => {
    const kv = await rawKv();
    await emptyBucket();
    const dossiers = await SealedKv.open(js, { bucket: BUCKET2, type: Dossiers, schema, keys: serviceKeys });
    await dossiers.create('ten-a.race', dossier('ten-a', 1));
    await dossiers.create('ten-a.stale-writer', dossier('ten-a', 2));
    const old = await primaryOf('ten-a', 'records');
    const current = await rotate('ten-a', 'records');

    // 1. the writer (already on the new primary) updates the record while the rewrap holds the old revision
    let writes = 0;
    const writer = async (): Promise<void> => {
      if (writes++ > 0) return;
      const e = (await dossiers.get('ten-a.race'))!;
      await dossiers.update('ten-a.race', { ...e.value, edits: 1, status: 'edited-during-rewrap' }, e.revision);
    };
    const s1 = await rewrapRecords({ js, bucket: BUCKET2, schema, keys: new HookedKeys(serviceKeys, writer), codecFor, concurrency: 1 });
    expect(s1).toMatchObject({ seen: 2, rewrapped: 1, current: 1, failed: 0 });
    expect((await dossiers.get('ten-a.race'))!.value).toMatchObject({ edits: 1, status: 'edited-during-rewrap' });
    expect(await versionsOf(kv, 'ten-a.race')).toEqual([current]);
    expect(await versionsOf(kv, 'ten-a.stale-writer')).toEqual([current]);

    // 2. a writer that still seals under the old version: its write is kept, then rewrapped
    const staleKeys: KeyProvider = { primaryKey: (ref) => serviceKeys.keyVersion(ref, old), keyVersion: (ref, v) => serviceKeys.keyVersion(ref, v) };
    const staleStore = new SealedKv({ kv, store: BUCKET2, type: Dossiers, schema, keys: staleKeys });
    const e0 = (await staleStore.get('ten-a.stale-writer'))!;
    await staleStore.update('ten-a.stale-writer', { ...e0.value, edits: 5 }, e0.revision);
    expect(await versionsOf(kv, 'ten-a.stale-writer')).toEqual([old]);
    let staleWrites = 0;
    const staleWriter = async (): Promise<void> => {
      if (staleWrites++ > 0) return;
      const e = (await staleStore.get('ten-a.stale-writer'))!;
      await staleStore.update('ten-a.stale-writer', { ...e.value, edits: 6 }, e.revision);
    };
    const s2 = await rewrapRecords({ js, bucket: BUCKET2, schema, keys: new HookedKeys(serviceKeys, staleWriter), codecFor, concurrency: 1 });
    expect(s2).toMatchObject({ rewrapped: 1, current: 1, failed: 0 });
    expect((await dossiers.get('ten-a.stale-writer'))!.value.edits).toBe(6);
    expect(await versionsOf(kv, 'ten-a.stale-writer')).toEqual([current]);

    // 3. a record that changes at every attempt is given up on (with its reason), never overwritten
    const r0 = (await staleStore.get('ten-a.race'))!;
    await staleStore.update('ten-a.race', { ...r0.value, edits: 10 }, r0.revision);
    let edits = 10;
    const busyWriter = async (): Promise<void> => {
      const e = (await staleStore.get('ten-a.race'))!;
      await staleStore.update('ten-a.race', { ...e.value, edits: ++edits } satisfies Dossier, e.revision);
    };
    const s3 = await rewrapRecords({ js, bucket: BUCKET2, schema, keys: new HookedKeys(serviceKeys, busyWriter), codecFor, concurrency: 1, maxAttempts: 3 });
    expect(s3).toMatchObject({ failed: 1, failedByReason: { kept_changing: 1 }, failures: [{ key: 'ten-a.race', reason: 'kept_changing' }] });
    expect((await dossiers.get('ten-a.race'))!.value.edits).toBe(edits);
  });
});
