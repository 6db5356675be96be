// Staged rotation while clients seal and open concurrently, and the client
// cache's single-flight, against the real keystore process over mTLS.
import { randomBytes } from 'node:crypto';
import { nativeBackend, openEnvelope, parseEnvelope, sealEnvelope, type KeyRingRef } from '@fle/field-crypto';
import { KeystoreAdminClient, KeystoreKeyProvider } from '@fle/keystore-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeystoreTestEnv, startKeystoreProcess, type KeystoreProcess, type KeystoreTestEnv } from '../src/testing.js';

let env: KeystoreTestEnv;
let ks: KeystoreProcess;
let admin: KeystoreAdminClient;
const closers: Array<{ close(): void }> = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function provider(name: string, ttlMs: number): KeystoreKeyProvider {
  const p = new KeystoreKeyProvider({ address: ks.address, tls: env.pki.files(name), ttlMs, channelOptions: { 'grpc.use_local_subchannel_pool': 1 } });
  closers.push(p);
  return p;
}

beforeAll(async () => {
  env = await createKeystoreTestEnv();
  ks = await startKeystoreProcess(env);
  admin = new KeystoreAdminClient({ address: ks.address, tls: env.pki.files('admin') });
  closers.push(admin);
});

afterAll(async () => {
  for (const c of closers) c.close();
  await ks?.stop();
  env?.cleanup();
});

describe('rotation under load', () => {
  it('rotate, wait, promote while N loops seal with the primary and open whatever version: zero failures', async () => {
    const ref: KeyRingRef = { tenant: 'acme', ring: 'default' };
    await admin.createKeyRing(ref.tenant, ref.ring);
    const TTL = 250;
    // Four "processes" (separate caches and connections), two loops each.
    const providers = [0, 1, 2, 3].map(() => provider('processor', TTL));
    const sealed: Array<{ envelope: Uint8Array; plaintext: Buffer; askedAt: number; sealedAt: number }> = [];
    const failures: unknown[] = [];
    const promotedAt = new Map<number, number>([[1, 0]]);
    let ops = 0;
    let running = true;
    const binding = { tenant: ref.tenant, messageType: 'fletest.svc.v1.SubmitRequest', fieldPath: '6', context: 'rotation' };

    const loop = async (keys: KeystoreKeyProvider): Promise<void> => {
      while (running) {
        try {
          const plaintext = randomBytes(24);
          const askedAt = Date.now();
          const primary = await keys.primaryKey(ref);
          const envelope = sealEnvelope(plaintext, { backend: nativeBackend, key: primary.key, keyVersion: primary.version, alg: primary.alg, binding });
          sealed.push({ envelope, plaintext, askedAt, sealedAt: Date.now() });
          const pick = sealed[Math.floor(Math.random() * sealed.length)]!;
          const v = parseEnvelope(pick.envelope).keyVersion;
          const key = await keys.keyVersion(ref, v);
          const opened = openEnvelope(pick.envelope, { backend: nativeBackend, key: key.key, binding });
          if (!Buffer.from(opened).equals(pick.plaintext)) throw new Error('plaintext mismatch');
          ops++;
        } catch (err) {
          failures.push(err);
        }
        await sleep(1); // many operations, but leave CPU for the keystore and the other test files

      }
    };
    const loops = providers.flatMap((p) => [loop(p), loop(p)]);

    // Staged rotation twice: rotate (pending), wait > TTL, promote, wait > TTL.
    for (const next of [2, 3]) {
      await sleep(150);
      expect((await admin.rotate(ref.tenant, ref.ring)).version).toBe(next);
      await sleep(TTL + 100);
      promotedAt.set(next, Date.now());
      const { previousPrimary } = await admin.promote(ref.tenant, ref.ring, next);
      expect(previousPrimary).toMatchObject({ version: next - 1, state: 'decrypt-only' });
    }
    await sleep(TTL + 150);
    const afterPropagation = Date.now();
    await sleep(100);
    running = false;
    await Promise.all(loops);

    expect(failures).toEqual([]);
    expect(ops).toBeGreaterThan(200);
    const byVersion = new Map<number, number>();
    for (const s of sealed) {
      const v = parseEnvelope(s.envelope).keyVersion;
      byVersion.set(v, (byVersion.get(v) ?? 0) + 1);
      // never sealed with a version before its promotion began (pending is not for sealing)
      expect(s.sealedAt).toBeGreaterThanOrEqual(promotedAt.get(v)!);
      // the last promotion reached every cache within the TTL (plus one background fetch)
      if (s.askedAt > afterPropagation) expect(v).toBe(3);
    }
    expect([...byVersion.keys()].sort()).toEqual([1, 2, 3]);
    const lastVersions = await admin.listVersions(ref.tenant, ref.ring);
    expect(lastVersions.map((v) => v.state)).toEqual(['decrypt-only', 'decrypt-only', 'primary']);
    // fetches stay at about one per process, version and TTL (not one per operation)
    const fetches = providers.reduce((n, p) => n + p.stats().fetches, 0);
    expect(fetches).toBeLessThan(ops / 10);
  });
});

describe('client cache against the real keystore', () => {
  it('single-flight: 300 concurrent misses make one RPC (counted in the audit log)', async () => {
    const ref: KeyRingRef = { tenant: 'singleflight', ring: 'default' };
    await admin.createKeyRing(ref.tenant, ref.ring);
    await admin.rotate(ref.tenant, ref.ring);
    await admin.promote(ref.tenant, ref.ring, 2);
    const keys = provider('client', 60_000);
    const fetchesOf = async (): Promise<string[]> =>
      (await env.readAudit()).filter((e) => e.tenant === ref.tenant && e.identity === 'spiffe://fle.local/client').map((e) => `${e.action}:${e.version}`);

    // 100 sealers and 100 openers of the primary (v2) at once: one RPC between them
    const first = await Promise.all([
      ...Array.from({ length: 100 }, () => keys.primaryKey(ref)),
      ...Array.from({ length: 100 }, () => keys.keyVersion(ref, 2)),
    ]);
    expect(new Set(first.map((m) => m.version))).toEqual(new Set([2]));
    expect(await fetchesOf()).toEqual(['GetPrimaryKey:2']);
    // 100 openers of an older version not in the cache: refetch once
    const old = await Promise.all(Array.from({ length: 100 }, () => keys.keyVersion(ref, 1)));
    expect(new Set(old.map((m) => m.version))).toEqual(new Set([1]));
    expect(await fetchesOf()).toEqual(['GetPrimaryKey:2', 'GetKeyVersion:1']);
    // cached now: no more RPCs
    await Promise.all(Array.from({ length: 100 }, () => keys.keyVersion(ref, 1)));
    await keys.primaryKey(ref);
    expect(await fetchesOf()).toHaveLength(2);
    expect(keys.stats()).toMatchObject({ fetches: 2, misses: 300, hits: 101, fetchesByVersion: { 'singleflight/default/2': 1, 'singleflight/default/1': 1 } });
  });

  it('under sustained load: at most one fetch per process, key version and TTL', async () => {
    const ref: KeyRingRef = { tenant: 'load', ring: 'default' };
    await admin.createKeyRing(ref.tenant, ref.ring);
    await admin.rotate(ref.tenant, ref.ring);
    const TTL = 200;
    const keys = provider('processor', TTL);
    const started = Date.now();
    let calls = 0;
    const worker = async (): Promise<void> => {
      while (Date.now() - started < 1000) {
        await Promise.all([keys.primaryKey(ref), keys.keyVersion(ref, 1), keys.keyVersion(ref, 2)]);
        calls += 3;
        await sleep(1);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    const elapsed = Date.now() - started;
    const maxPerVersion = Math.ceil(elapsed / TTL) + 1;
    const stats = keys.stats();
    expect(calls).toBeGreaterThan(1000);
    expect(stats.fetchesByVersion['load/default/1']).toBeLessThanOrEqual(maxPerVersion);
    expect(stats.fetchesByVersion['load/default/2']).toBeLessThanOrEqual(maxPerVersion);
    expect(stats.fetches).toBeLessThanOrEqual(2 * maxPerVersion);
    expect(stats.fetchesByVersion['load/default/1']).toBeGreaterThanOrEqual(3); // it does refetch after each TTL
  });
});
