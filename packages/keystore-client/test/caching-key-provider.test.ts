import { SecretKey, UnknownKeyRingError, UnknownKeyVersionError, type KeyRingRef } from '@fle/field-crypto';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CachingKeyProvider } from '../src/caching-key-provider.js';
import { KeystorePermissionDeniedError, KeystoreResponseError, KeystoreUnavailableError } from '../src/errors.js';
import { FetchFailure, type FetchedKey, type FetchedState, type KeyFetcher } from '../src/fetcher.js';

const ref: KeyRingRef = { tenant: 'acme', ring: 'default' };

/** A keystore in memory: versions with states, a switch for outages, a call log. */
class FakeKeystore implements KeyFetcher {
  states = new Map<number, FetchedState | 'disabled'>([[1, 'primary']]);
  down = false;
  denied = false;
  calls: string[] = [];
  /** Resolves pending fetches when called; fetches wait on it when set. */
  gate: Promise<void> | undefined;

  key(v: number): SecretKey {
    return new SecretKey(new Uint8Array(32).fill(v));
  }

  async #answer(v: number): Promise<FetchedKey> {
    if (this.gate) await this.gate;
    if (this.down) throw new FetchFailure('unavailable', 'UNAVAILABLE: down');
    if (this.denied) throw new FetchFailure('denied', 'PERMISSION_DENIED: no');
    const state = this.states.get(v);
    if (!state || state === 'disabled') throw new FetchFailure('not-found', 'NOT_FOUND');
    return { material: { version: v, alg: 1, key: this.key(v) }, state };
  }

  async fetchPrimary(_ref: KeyRingRef): Promise<FetchedKey> {
    this.calls.push('primary');
    const primary = [...this.states].find(([, s]) => s === 'primary')![0];
    return this.#answer(primary);
  }

  async fetchVersion(_ref: KeyRingRef, version: number): Promise<FetchedKey> {
    this.calls.push(`v${version}`);
    return this.#answer(version);
  }

  close(): void {}
}

function setup(opts: { ttlMs?: number; graceMs?: number; negativeTtlMs?: number; registry?: Registry } = {}) {
  const ks = new FakeKeystore();
  const clock = { t: 1_000_000 };
  const provider = new CachingKeyProvider(ks, {
    ttlMs: opts.ttlMs ?? 1000,
    graceMs: opts.graceMs ?? 5000,
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
});
