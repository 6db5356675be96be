import { compileSchema, FieldCipher, SecretKey, StaticKeyProvider, UnknownKeyRingError, UnknownKeyVersionError, type KeyRingRef } from '@fle/field-crypto';
import protobuf from 'protobufjs';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CachingKeyProvider } from '../src/caching-key-provider.js';
import { KeystorePermissionDeniedError, KeystoreResponseError, KeystoreUnavailableError } from '../src/errors.js';
import { FetchFailure, type FetchedKey, type FetchedState, type KeyFetcher } from '../src/fetcher.js';

const ref: KeyRingRef = { tenant: 'acme', ring: 'default' };

/**
 * A keystore in memory: versions with states (the same for every ring of a
 * known tenant), a switch for outages, a call log, every key it handed out.
 */
class FakeKeystore implements KeyFetcher {
  states = new Map<number, FetchedState | 'disabled'>([[1, 'primary']]);
  /** Tenants it has rings for; any other is answered "key ring does not exist". */
  tenants = new Set(['acme']);
  down = false;
  denied = false;
  calls: string[] = [];
  issued: SecretKey[] = [];
  /** Resolves pending fetches when called; fetches wait on it when set. */
  gate: Promise<void> | undefined;

  key(v: number): SecretKey {
    const key = new SecretKey(new Uint8Array(32).fill(v));
    this.issued.push(key);
    return key;
  }

  /** What the gRPC fetcher reports for a NOT_FOUND "key ring t/r does not exist". */
  #unknownRing(ref: KeyRingRef, call: string): boolean {
    if (this.tenants.has(ref.tenant)) return false;
    this.calls.push(`${ref.tenant}:${call}`);
    throw new FetchFailure('not-found', `NOT_FOUND: key ring ${ref.tenant}/${ref.ring} does not exist`, { unknownRing: true });
  }

  async #answer(v: number): Promise<FetchedKey> {
    if (this.gate) await this.gate;
    if (this.down) throw new FetchFailure('unavailable', 'UNAVAILABLE: down');
    if (this.denied) throw new FetchFailure('denied', 'PERMISSION_DENIED: no');
    const state = this.states.get(v);
    if (!state || state === 'disabled') throw new FetchFailure('not-found', 'NOT_FOUND');
    return { material: { version: v, alg: 1, key: this.key(v) }, state };
  }

  async fetchPrimary(r: KeyRingRef): Promise<FetchedKey> {
    this.#unknownRing(r, 'primary');
    this.calls.push('primary');
    const primary = [...this.states].find(([, s]) => s === 'primary')![0];
    return this.#answer(primary);
  }

  async fetchVersion(r: KeyRingRef, version: number): Promise<FetchedKey> {
    this.#unknownRing(r, `v${version}`);
    this.calls.push(`v${version}`);
    return this.#answer(version);
  }

  close(): void {}
}

/** Without a refresh window unless asked for: the TTL rules alone (the window's own tests below). */
function setup(opts: { ttlMs?: number; graceMs?: number; refreshWindowMs?: number; negativeTtlMs?: number; registry?: Registry } = {}) {
  const ks = new FakeKeystore();
  const clock = { t: 1_000_000 };
  const provider = new CachingKeyProvider(ks, {
    ttlMs: opts.ttlMs ?? 1000,
    graceMs: opts.graceMs ?? 5000,
    refreshWindowMs: opts.refreshWindowMs ?? 0,
    negativeTtlMs: opts.negativeTtlMs ?? 200,
    backoff: { initialMs: 100, maxMs: 400 },
    now: () => clock.t,
    ...(opts.registry ? { registry: opts.registry } : {}),
  });
  return { ks, clock, provider };
}

describe('CachingKeyProvider', () => {
  it('serves fresh entries synchronously (cachedPrimaryKey / cachedKeyVersion), never fetching from there', async () => {
    const { ks, clock, provider } = setup({ ttlMs: 1000 });
    expect(provider.cachedPrimaryKey(ref)).toBeUndefined();
    expect(provider.cachedKeyVersion(ref, 1)).toBeUndefined();
    expect(ks.calls).toEqual([]);
    const primary = await provider.primaryKey(ref);
    expect(provider.cachedPrimaryKey(ref)).toBe(primary);
    // The primary's fetch also cached its version; other rings and tenants stay apart.
    expect(provider.cachedKeyVersion(ref, 1)).toBe(primary);
    expect(provider.cachedKeyVersion(ref, 2)).toBeUndefined();
    expect(provider.cachedPrimaryKey({ tenant: 'acme', ring: 'pci' })).toBeUndefined();
    expect(provider.cachedPrimaryKey({ tenant: 'other', ring: 'default' })).toBeUndefined();
    clock.t += 1000; // TTL over: the caller must go through primaryKey (which fetches)
    expect(provider.cachedPrimaryKey(ref)).toBeUndefined();
    expect(provider.cachedKeyVersion(ref, 1)).toBeUndefined();
    expect(ks.calls).toEqual(['primary']);
    expect(provider.stats().hits).toBe(2);
  });

  it('serves from cache within the TTL and counts hits and misses', async () => {
    const { ks, provider, clock } = setup();
    const a = await provider.primaryKey(ref);
    expect(a.version).toBe(1);
    clock.t += 999;
    await provider.primaryKey(ref);
    await provider.keyVersion(ref, 1); // the primary fetch cached version 1 as well
    expect(ks.calls).toEqual(['primary']);
    expect(provider.stats()).toMatchObject({ hits: 2, misses: 1, fetches: 1, fetchErrors: 0, fetchesByVersion: { 'acme/default/1': 1 } });
    expect(provider.stats().fetchLatencyMs.count).toBe(1);
  });

  it('single-flight: N concurrent misses for one version make one RPC', async () => {
    const { ks, provider } = setup();
    ks.states.set(2, 'decrypt-only');
    let open!: () => void;
    ks.gate = new Promise((r) => (open = r));
    const all = Promise.all(Array.from({ length: 100 }, () => provider.keyVersion(ref, 2)));
    await new Promise((r) => setTimeout(r, 10));
    open();
    const got = await all;
    expect(new Set(got.map((m) => m.version))).toEqual(new Set([2]));
    expect(ks.calls).toEqual(['v2']);
    expect(provider.stats()).toMatchObject({ misses: 100, fetches: 1 });
  });

  it('a version miss joins a running primary fetch of its ring (one RPC per key version)', async () => {
    const { ks, provider } = setup();
    let open!: () => void;
    ks.gate = new Promise((r) => (open = r));
    const seals = Array.from({ length: 20 }, () => provider.primaryKey(ref));
    const opens = Array.from({ length: 20 }, () => provider.keyVersion(ref, 1));
    await new Promise((r) => setTimeout(r, 10));
    open();
    await Promise.all([...seals, ...opens]);
    expect(ks.calls).toEqual(['primary']);
  });

  it('a primary miss joins a running version fetch that turns out to be the primary', async () => {
    const { ks, provider } = setup();
    let open!: () => void;
    ks.gate = new Promise((r) => (open = r));
    const opens = Array.from({ length: 5 }, () => provider.keyVersion(ref, 1));
    const seal = provider.primaryKey(ref);
    await new Promise((r) => setTimeout(r, 10));
    open();
    await Promise.all([...opens, seal]);
    expect(ks.calls).toEqual(['v1']);
  });

  it('rotation propagates within the TTL; pending versions are fetched for opening, never sealed with', async () => {
    const { ks, provider, clock } = setup();
    expect((await provider.primaryKey(ref)).version).toBe(1);
    ks.states.set(2, 'pending');
    // an envelope under a version the cache does not know: fetched on demand
    const pending = await provider.keyVersion(ref, 2);
    expect(pending.version).toBe(2);
    expect((await provider.primaryKey(ref)).version).toBe(1);
    ks.states.set(1, 'decrypt-only');
    ks.states.set(2, 'primary');
    clock.t += 500;
    expect((await provider.primaryKey(ref)).version).toBe(1); // cached, within TTL
    clock.t += 501;
    expect((await provider.primaryKey(ref)).version).toBe(2);
    expect(Buffer.from((await provider.primaryKey(ref)).key.exposeBytes())).toEqual(Buffer.alloc(32, 2));
  });

  it('learning that the cached primary is no longer primary drops it at once', async () => {
    const { ks, provider, clock } = setup();
    await provider.primaryKey(ref);
    ks.states.set(1, 'decrypt-only');
    ks.states.set(2, 'primary');
    clock.t += 1000; // version 1's entry expires; refetching it says decrypt-only
    await provider.keyVersion(ref, 1);
    expect((await provider.primaryKey(ref)).version).toBe(2);
    expect(ks.calls).toEqual(['primary', 'v1', 'primary']);
  });

  it('an unknown version is UnknownKeyVersionError, remembered briefly, then asked again', async () => {
    const { ks, provider, clock } = setup();
    await expect(provider.keyVersion(ref, 9)).rejects.toBeInstanceOf(UnknownKeyVersionError);
    await expect(provider.keyVersion(ref, 9)).rejects.toBeInstanceOf(UnknownKeyVersionError);
    expect(ks.calls).toEqual(['v9']);
    clock.t += 200;
    ks.states.set(9, 'pending');
    expect((await provider.keyVersion(ref, 9)).version).toBe(9);
    expect(ks.calls).toEqual(['v9', 'v9']);
    await expect(provider.keyVersion(ref, 0)).rejects.toBeInstanceOf(UnknownKeyVersionError);
    expect(ks.calls).toHaveLength(2);
  });

  it('remembers a bounded number of unknown versions', async () => {
    const { ks, provider } = setup({ negativeTtlMs: 60_000 });
    for (let v = 100; v < 100 + 5000; v++) await expect(provider.keyVersion(ref, v)).rejects.toBeInstanceOf(UnknownKeyVersionError);
    expect(ks.calls).toHaveLength(5000);
    // the cap cleared the oldest answers: an early bogus version is asked again, a recent one is not
    await expect(provider.keyVersion(ref, 100)).rejects.toBeInstanceOf(UnknownKeyVersionError);
    await expect(provider.keyVersion(ref, 5099)).rejects.toBeInstanceOf(UnknownKeyVersionError);
    expect(ks.calls).toHaveLength(5001);
  });

  it('a version disabled at the keystore stops being served after the TTL', async () => {
    const { ks, provider, clock } = setup();
    ks.states.set(2, 'decrypt-only');
    await provider.keyVersion(ref, 2);
    ks.states.set(2, 'disabled');
    clock.t += 999;
    await provider.keyVersion(ref, 2);
    clock.t += 1;
    await expect(provider.keyVersion(ref, 2)).rejects.toMatchObject({ code: 'UNKNOWN_KEY_VERSION' });
  });

  it('a ring the keystore does not know is UnknownKeyRingError', async () => {
    const { ks, provider } = setup();
    ks.states.clear();
    ks.fetchPrimary = async () => {
      throw new FetchFailure('not-found', 'NOT_FOUND: no ring');
    };
    await expect(provider.primaryKey(ref)).rejects.toBeInstanceOf(UnknownKeyRingError);
  });

  it('outage: serves from cache until TTL + grace, then KEYSTORE_UNAVAILABLE, then recovers', async () => {
    const { ks, provider, clock } = setup({ ttlMs: 1000, graceMs: 2000 });
    await provider.primaryKey(ref);
    ks.down = true;
    clock.t += 1500; // past TTL, within grace: fetch fails, stale entry served
    expect((await provider.primaryKey(ref)).version).toBe(1);
    const rpcsAfterFirstFailure = ks.calls.length;
    // backing off: no RPC for the next 100 ms, still served stale
    clock.t += 50;
    expect((await provider.primaryKey(ref)).version).toBe(1);
    expect(ks.calls.length).toBe(rpcsAfterFirstFailure);
    // a key never fetched cannot be served: typed error at once
    await expect(provider.keyVersion(ref, 5)).rejects.toBeInstanceOf(KeystoreUnavailableError);
    clock.t += 1500; // 3050 ms since the fetch: past TTL + grace
    const err = await provider.primaryKey(ref).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeystoreUnavailableError);
    expect((err as KeystoreUnavailableError).code).toBe('KEYSTORE_UNAVAILABLE');
    expect((err as Error).message).not.toMatch(/[0-9a-f]{64}/);
    ks.down = false;
    clock.t += 400; // past the (capped) backoff
    expect((await provider.primaryKey(ref)).version).toBe(1);
    expect(provider.stats().staleServed).toBe(2);
    expect(provider.stats().fetchErrors).toBeGreaterThanOrEqual(2);
  });

  it('PERMISSION_DENIED drops the ring from the cache and throws a typed error', async () => {
    const { ks, provider, clock } = setup();
    await provider.primaryKey(ref);
    ks.denied = true;
    clock.t += 1000;
    await expect(provider.primaryKey(ref)).rejects.toBeInstanceOf(KeystorePermissionDeniedError);
    await expect(provider.keyVersion(ref, 1)).rejects.toMatchObject({ code: 'KEYSTORE_PERMISSION_DENIED' });
  });

  it('other failures are KEYSTORE_ERROR', async () => {
    const { ks, provider } = setup();
    ks.fetchPrimary = async () => {
      throw new FetchFailure('failed', 'INVALID_ARGUMENT: bad name');
    };
    await expect(provider.primaryKey(ref)).rejects.toBeInstanceOf(KeystoreResponseError);
  });

  it('exports counters to a prom-client registry', async () => {
    const registry = new Registry();
    const { provider } = setup({ registry });
    await provider.primaryKey(ref);
    await provider.primaryKey(ref);
    const text = await registry.metrics();
    expect(text).toMatch(/fle_keystore_client_cache_hits_total 1/);
    expect(text).toMatch(/fle_keystore_client_cache_misses_total 1/);
    expect(text).toMatch(/fle_keystore_client_fetches_total\{outcome="ok"\} 1/);
    expect(text).toMatch(/fle_keystore_client_fetch_duration_seconds_count\{outcome="ok"\} 1/);
    // a second provider on the same registry shares the metrics instead of failing
    expect(() => setup({ registry })).not.toThrow();
  });
  describe('refresh window (serve while refreshing in the background)', () => {
    /** Lets a background fetch (and what follows it) run. */
    const settle = () => new Promise((r) => setTimeout(r, 0));

    it('defaults to 5 s: a key past its TTL is served at once while one background fetch replaces it', async () => {
      const ks = new FakeKeystore();
      const clock = { t: 1_000_000 };
      const provider = new CachingKeyProvider(ks, { ttlMs: 1000, now: () => clock.t });
      const first = await provider.primaryKey(ref);
      clock.t += 1000; // TTL over, inside the default window
      let release!: () => void;
      ks.gate = new Promise<void>((r) => (release = r));
      // Many callers meanwhile: all served without waiting, one RPC between them.
      for (let i = 0; i < 50; i++) {
        expect(provider.cachedPrimaryKey(ref)).toBe(first);
        expect(provider.cachedKeyVersion(ref, 1)).toBe(first);
      }
      expect(await provider.primaryKey(ref)).toBe(first);
      expect(ks.calls).toEqual(['primary', 'primary']);
      release();
      ks.gate = undefined;
      await settle();
      // The refreshed entry is fresh for a whole TTL from its fetch: no RPC until then.
      const refreshed = provider.cachedPrimaryKey(ref)!;
      expect(refreshed.version).toBe(1);
      // The same key came back: the object callers hold is kept (the fetched copy was destroyed).
      expect(refreshed).toBe(first);
      expect(ks.issued[1]!.destroyed).toBe(true);
      clock.t += 999;
      expect(provider.cachedPrimaryKey(ref)).toBe(refreshed);
      expect(ks.calls).toEqual(['primary', 'primary']);
      expect(provider.stats()).toMatchObject({ misses: 1, backgroundRefreshes: 1, fetches: 2 });
    });

    it('past the window callers wait for the fetch, as on a miss', async () => {
      const { ks, clock, provider } = setup({ ttlMs: 1000, refreshWindowMs: 500 });
      await provider.primaryKey(ref);
      clock.t += 1500;
      expect(provider.cachedPrimaryKey(ref)).toBeUndefined();
      expect(provider.cachedKeyVersion(ref, 1)).toBeUndefined();
      expect(ks.calls).toEqual(['primary']);
      expect((await provider.primaryKey(ref)).version).toBe(1);
      expect(ks.calls).toEqual(['primary', 'primary']);
      expect(provider.stats().backgroundRefreshes).toBe(0);
    });

    it('a promotion reaches sealing through the refresh: the old primary is served only until the refresh lands', async () => {
      const { ks, clock, provider } = setup({ ttlMs: 1000, refreshWindowMs: 500 });
      await provider.primaryKey(ref);
      ks.states = new Map([
        [1, 'decrypt-only'],
        [2, 'primary'],
      ]);
      clock.t += 1000;
      expect(provider.cachedPrimaryKey(ref)!.version).toBe(1);
      await settle();
      expect(provider.cachedPrimaryKey(ref)!.version).toBe(2);
      // The old version still opens what was sealed under it (its own entry, refreshed in turn).
      expect(provider.cachedKeyVersion(ref, 1)!.version).toBe(1);
      await settle();
      expect(ks.calls).toEqual(['primary', 'primary', 'v1']);
    });

    it('a version disabled meanwhile is dropped by the refresh: the next open is UNKNOWN_KEY_VERSION', async () => {
      const { ks, clock, provider } = setup({ ttlMs: 1000, refreshWindowMs: 500 });
      ks.states = new Map([
        [1, 'decrypt-only'],
        [2, 'primary'],
      ]);
      await provider.keyVersion(ref, 1);
      ks.states.set(1, 'disabled');
      clock.t += 1000;
      expect(provider.cachedKeyVersion(ref, 1)!.version).toBe(1); // served while the refresh runs
      await settle();
      expect(provider.cachedKeyVersion(ref, 1)).toBeUndefined();
      await expect(provider.keyVersion(ref, 1)).rejects.toBeInstanceOf(UnknownKeyVersionError);
      expect(ks.calls).toEqual(['v1', 'v1']); // the "no such version" answer is remembered: no third RPC
    });

    it('PERMISSION_DENIED on a refresh drops the ring: the next caller gets the typed error', async () => {
      const { ks, clock, provider } = setup({ ttlMs: 1000, refreshWindowMs: 500 });
      await provider.primaryKey(ref);
      ks.denied = true;
      clock.t += 1000;
      expect(provider.cachedPrimaryKey(ref)).toBeDefined();
      await settle();
      expect(provider.cachedPrimaryKey(ref)).toBeUndefined();
      expect(provider.cachedKeyVersion(ref, 1)).toBeUndefined();
      await expect(provider.primaryKey(ref)).rejects.toBeInstanceOf(KeystorePermissionDeniedError);
    });

    it('a failed refresh is not retried from the window; an unreachable keystore then falls back to the grace rules', async () => {
      const { ks, clock, provider } = setup({ ttlMs: 1000, graceMs: 2000, refreshWindowMs: 500 });
      await provider.primaryKey(ref);
      let failures = 0;
      ks.fetchPrimary = async () => {
        ks.calls.push('primary');
        failures++;
        throw new FetchFailure('failed', 'INTERNAL: oops');
      };
      clock.t += 1000;
      for (let i = 0; i < 20; i++) {
        expect(provider.cachedPrimaryKey(ref)!.version).toBe(1);
        await settle();
      }
      expect(failures).toBe(1);
      // Unreachable: the refresh sets the backoff, callers past the window get the stale key within grace.
      const down = setup({ ttlMs: 1000, graceMs: 2000, refreshWindowMs: 50 });
      await down.provider.primaryKey(ref);
      down.ks.down = true;
      down.clock.t += 1000;
      expect(down.provider.cachedPrimaryKey(ref)!.version).toBe(1);
      expect(down.provider.stats()).toMatchObject({ hits: 1, staleServed: 0 }); // the refresh has not failed yet
      await settle();
      expect(down.provider.cachedPrimaryKey(ref)!.version).toBe(1); // still in the window, keystore failing: stale
      down.clock.t += 60; // past the window, within grace; still backing off (100 ms): no RPC
      expect(down.provider.cachedPrimaryKey(ref)).toBeUndefined();
      expect((await down.provider.primaryKey(ref)).version).toBe(1);
      expect(down.ks.calls).toEqual(['primary', 'primary']);
      expect(down.provider.stats()).toMatchObject({ backgroundRefreshes: 1, staleServed: 2, fetchErrors: 1 });
    });

    it('never serves past TTL + grace: the window is clamped to the grace', async () => {
      const { ks, clock, provider } = setup({ ttlMs: 1000, graceMs: 300, refreshWindowMs: 5000 });
      await provider.primaryKey(ref);
      ks.down = true;
      clock.t += 1000;
      expect(provider.cachedPrimaryKey(ref)).toBeDefined();
      await settle();
      clock.t += 300; // TTL + grace: nothing is served any more
      expect(provider.cachedPrimaryKey(ref)).toBeUndefined();
      await expect(provider.primaryKey(ref)).rejects.toBeInstanceOf(KeystoreUnavailableError);
    });

    it('keeps fetches at one per key version and TTL when sealing and opening use the same key', async () => {
      const { ks, clock, provider } = setup({ ttlMs: 1000, refreshWindowMs: 500 });
      await provider.primaryKey(ref); // also caches version 1 (same fetch)
      for (let period = 1; period <= 5; period++) {
        clock.t += 1000;
        // Open (version 1) and seal (primary) of one request, both past the TTL.
        expect(provider.cachedKeyVersion(ref, 1)!.version).toBe(1);
        expect(provider.cachedPrimaryKey(ref)!.version).toBe(1);
        await settle();
        for (let i = 0; i < 10; i++) {
          expect(provider.cachedKeyVersion(ref, 1)).toBeDefined();
          expect(provider.cachedPrimaryKey(ref)).toBeDefined();
        }
        expect(ks.calls.length).toBe(1 + period);
      }
      expect(provider.stats().fetchesByVersion).toEqual({ 'acme/default/1': 6 });
    });
  });

  describe('keys die with their cache entries (issue 18 item 6)', () => {
    /** Lets the deferred retire (a later macrotask) run. */
    const settle = () => new Promise((r) => setTimeout(r, 5));

    it('a refetch of the same version keeps the key object callers hold, and destroys the fresh duplicate', async () => {
      const { ks, clock, provider } = setup();
      const first = await provider.primaryKey(ref);
      clock.t += 1000;
      const again = await provider.primaryKey(ref);
      expect(ks.calls).toEqual(['primary', 'primary']);
      expect(again.key).toBe(first.key);
      await settle();
      expect(first.key.destroyed).toBe(false);
      expect(ks.issued).toHaveLength(2);
      expect(ks.issued[1]!.destroyed).toBe(true);
    });

    it('a version whose key changed (a keystore that misbehaves) is replaced, and the old key destroyed', async () => {
      const { ks, clock, provider } = setup();
      const first = await provider.keyVersion(ref, 1);
      ks.key = (v: number) => {
        const key = new SecretKey(new Uint8Array(32).fill(v + 100));
        ks.issued.push(key);
        return key;
      };
      clock.t += 1000;
      const again = await provider.keyVersion(ref, 1);
      expect(again.key).not.toBe(first.key);
      await settle();
      expect(first.key.destroyed).toBe(true);
      expect(again.key.destroyed).toBe(false);
    });

    it('PERMISSION_DENIED drops the ring: its keys are destroyed', async () => {
      const { ks, clock, provider } = setup();
      const m = await provider.primaryKey(ref);
      ks.denied = true;
      clock.t += 1000;
      await expect(provider.primaryKey(ref)).rejects.toBeInstanceOf(KeystorePermissionDeniedError);
      await settle();
      expect(m.key.destroyed).toBe(true);
      expect(() => m.key.exposeBytes()).toThrow(/destroyed/);
    });

    it('a version disabled at the keystore: its key is destroyed when the cache learns it', async () => {
      const { ks, clock, provider } = setup();
      ks.states.set(2, 'decrypt-only');
      const v2 = await provider.keyVersion(ref, 2);
      ks.states.set(2, 'disabled');
      clock.t += 1000;
      await expect(provider.keyVersion(ref, 2)).rejects.toBeInstanceOf(UnknownKeyVersionError);
      await settle();
      expect(v2.key.destroyed).toBe(true);
    });

    it('clear() and close() destroy every cached key', async () => {
      const { ks, provider } = setup();
      ks.states.set(2, 'decrypt-only');
      const [p, v2] = [await provider.primaryKey(ref), await provider.keyVersion(ref, 2)];
      provider.clear();
      await settle();
      expect([p.key.destroyed, v2.key.destroyed]).toEqual([true, true]);
      const fresh = await provider.primaryKey(ref);
      provider.close();
      await settle();
      expect(fresh.key.destroyed).toBe(true);
    });

    it('never under an operation that holds the key: a seal waiting for its second ring finishes, then the evicted key dies', async () => {
      const root = protobuf.parse(`syntax = "proto3"; package t.v1;
        message M { option (fle.v1.tenant_field) = "tenant_id"; string tenant_id = 1;
          string a = 2 [(fle.v1.sensitive) = true]; string b = 3 [(fle.v1.sensitive) = true, (fle.v1.key_ring) = "pci"]; }`).root;
      let openPci!: () => void;
      const pciGate = new Promise<void>((r) => (openPci = r));
      const issued: SecretKey[] = [];
      const fetcher: KeyFetcher = {
        async fetchPrimary(r) {
          if (r.ring === 'pci') await pciGate;
          const key = new SecretKey(new Uint8Array(32).fill(r.ring === 'pci' ? 2 : 1));
          issued.push(key);
          return { material: { version: 1, alg: 2, key }, state: 'primary' };
        },
        fetchVersion: () => Promise.reject(new FetchFailure('not-found', 'NOT_FOUND')),
        close() {},
      };
      const provider = new CachingKeyProvider(fetcher, { ttlMs: 60_000 });
      const cipher = new FieldCipher({ schema: compileSchema(root), keys: provider });
      const sealing = cipher.sealMessage('t.v1.M', { tenantId: 'acme', a: 'x', b: 'y' });
      await settle(); // the default ring's key has arrived; the pci ring's has not
      expect(issued).toHaveLength(1);
      provider.clear(); // evicts the default ring's key while the seal holds it
      await settle();
      expect(issued[0]!.destroyed).toBe(false);
      openPci();
      const sealed = await sealing;
      // Sealed under the real key (not under a destroyed, emptied one), which died once the seal released it.
      expect(issued[0]!.destroyed).toBe(true);
      expect(issued[1]!.destroyed).toBe(false);
      const check = new StaticKeyProvider([
        { tenant: 'acme', versions: [{ version: 1, key: new Uint8Array(32).fill(1), alg: 2 }] },
        { tenant: 'acme', ring: 'pci', versions: [{ version: 1, key: new Uint8Array(32).fill(2), alg: 2 }] },
      ]);
      expect(await new FieldCipher({ schema: compileSchema(root), keys: check }).openMessage('t.v1.M', sealed)).toEqual({ tenantId: 'acme', a: 'x', b: 'y' });
    });
  });

  describe('unknown tenants and rings are remembered briefly (issue 17 item 6)', () => {
    const ghost: KeyRingRef = { tenant: 'ghost', ring: 'default' };

    it('one fetch per unknown ring for the negative TTL, whatever version or primary is asked', async () => {
      const { ks, clock, provider } = setup({ negativeTtlMs: 200 });
      for (let v = 1; v <= 5; v++) await expect(provider.keyVersion(ghost, v)).rejects.toBeInstanceOf(UnknownKeyVersionError);
      await expect(provider.primaryKey(ghost)).rejects.toBeInstanceOf(UnknownKeyRingError);
      expect(ks.calls).toEqual(['ghost:v1']);
      // Other rings and tenants are asked as usual.
      await expect(provider.keyVersion({ tenant: 'ghost', ring: 'pci' }, 1)).rejects.toBeInstanceOf(UnknownKeyVersionError);
      expect((await provider.keyVersion(ref, 1)).version).toBe(1);
      expect(ks.calls).toEqual(['ghost:v1', 'ghost:v1', 'v1']);
      clock.t += 200;
      ks.tenants.add('ghost'); // created meanwhile: asked again once the answer expired
      expect((await provider.keyVersion(ghost, 1)).version).toBe(1);
    });

    it('a primary fetch that finds no ring is remembered for its versions too', async () => {
      const { ks, provider } = setup();
      await expect(provider.primaryKey(ghost)).rejects.toBeInstanceOf(UnknownKeyRingError);
      await expect(provider.keyVersion(ghost, 3)).rejects.toBeInstanceOf(UnknownKeyVersionError);
      expect(ks.calls).toEqual(['ghost:primary']);
    });

    it("a known ring's unknown version does not make the ring unknown", async () => {
      const { ks, provider } = setup();
      await expect(provider.keyVersion(ref, 9)).rejects.toBeInstanceOf(UnknownKeyVersionError);
      expect((await provider.keyVersion(ref, 1)).version).toBe(1);
      expect(ks.calls).toEqual(['v9', 'v1']);
    });
  });
});
