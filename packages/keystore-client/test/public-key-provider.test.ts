// KeystorePublicKeyProvider's cache (TTL, grace, refresh window, single
// flight) against a keystore in memory; the gRPC path itself is covered by
// services/keystore/test/x25519-rings.int.test.ts.
import { UnknownKeyRingError, type KeyRingRef } from '@fle/field-crypto';
import { describe, expect, it } from 'vitest';
import { KeystorePermissionDeniedError, KeystoreUnavailableError } from '../src/errors.js';
import { KeystorePublicKeyProvider, type FetchedPublicKey, type PublicKeyCacheOptions } from '../src/public-key-provider.js';

const ref: KeyRingRef = { tenant: 'acme', ring: 'default' };
const TTL = 60_000;

/** GetPublicKey in memory: the primary version, an outage switch, other answers, a gate to hold fetches, a call count. */
class FakeKeystore {
  primary = 1;
  failure: 'down' | 'denied' | 'gone' | undefined;
  calls = 0;
  #release: (() => void) | undefined;
  #gate: Promise<void> | undefined;

  /** Fetches started from now on wait until release(). */
  hold(): void {
    this.#gate = new Promise((r) => (this.#release = r));
  }

  release(): void {
    this.#release?.();
    this.#gate = undefined;
  }

  readonly fetch = async (r: KeyRingRef): Promise<FetchedPublicKey> => {
    this.calls++;
    if (this.#gate) await this.#gate;
    if (this.failure === 'down') throw new KeystoreUnavailableError(r.tenant, r.ring);
    if (this.failure === 'denied') throw new KeystorePermissionDeniedError(r.tenant, r.ring);
    if (this.failure === 'gone') throw new UnknownKeyRingError(r.tenant, r.ring);
    return { version: this.primary, publicKey: new Uint8Array(32).fill(this.primary) };
  };
}

function setup(opts: PublicKeyCacheOptions = {}): { ks: FakeKeystore; clock: { t: number }; provider: KeystorePublicKeyProvider } {
  const ks = new FakeKeystore();
  const clock = { t: 1_000_000 };
  const provider = new KeystorePublicKeyProvider({ address: '127.0.0.1:1', tls: undefined as never, fetch: ks.fetch, now: () => clock.t, ttlMs: TTL, ...opts });
  return { ks, clock, provider };
}

/** True when `p` has settled after the pending microtasks ran (no fetch answered in between). */
async function settledNow(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let i = 0; i < 10; i++) await Promise.resolve();
  return settled;
}

describe('KeystorePublicKeyProvider cache', () => {
  it('serves a fetched key for the TTL; concurrent misses share one fetch', async () => {
    const { ks, clock, provider } = setup();
    const keys = await Promise.all(Array.from({ length: 20 }, () => provider.recipientKey(ref)));
    expect(keys.every((k) => k.version === 1)).toBe(true);
    clock.t += TTL - 1;
    expect((await provider.recipientKey(ref)).version).toBe(1);
    expect(ks.calls).toBe(1);
  });

  it('in the refresh window: every caller gets the cached key at once, one background fetch replaces it (a promotion arrives)', async () => {
    const { ks, clock, provider } = setup();
    await provider.recipientKey(ref);
    ks.primary = 2;
    ks.hold();
    clock.t += TTL + 1000; // within the default 5 s window
    const calls = Array.from({ length: 100 }, () => provider.recipientKey(ref));
    expect(await settledNow(Promise.all(calls))).toBe(true);
    expect((await Promise.all(calls)).every((k) => k.version === 1)).toBe(true);
    expect(ks.calls).toBe(2); // one refresh for all hundred
    ks.release();
    await new Promise((r) => setImmediate(r));
    expect((await provider.recipientKey(ref)).version).toBe(2);
    expect(ks.calls).toBe(2);
    // The refreshed key has a TTL of its own, from the refresh.
    clock.t += TTL - 1;
    expect((await provider.recipientKey(ref)).version).toBe(2);
    expect(ks.calls).toBe(2);
  });

  it('past the window callers wait for the fetch, as with refreshWindowMs 0 inside it', async () => {
    for (const [opts, past] of [[{}, 5000], [{ refreshWindowMs: 0 }, 1]] as const) {
      const { ks, clock, provider } = setup(opts);
      await provider.recipientKey(ref);
      ks.primary = 2;
      ks.hold();
      clock.t += TTL + past;
      const call = provider.recipientKey(ref);
      expect(await settledNow(call)).toBe(false);
      ks.release();
      expect((await call).version).toBe(2);
      expect(ks.calls).toBe(2);
    }
  });

  it('the window is never longer than the grace', async () => {
    const { ks, clock, provider } = setup({ graceMs: 1000 });
    await provider.recipientKey(ref);
    ks.hold();
    clock.t += TTL + 1500; // inside the default window, past TTL + grace
    expect(await settledNow(provider.recipientKey(ref))).toBe(false);
    ks.release();
  });

  it.each([
    ['denied', KeystorePermissionDeniedError],
    ['gone', UnknownKeyRingError],
  ] as const)('a refresh answered %s drops the key: the next caller waits and gets the error', async (failure, type) => {
    const { ks, clock, provider } = setup();
    await provider.recipientKey(ref);
    ks.failure = failure;
    clock.t += TTL + 10;
    expect((await provider.recipientKey(ref)).version).toBe(1); // served; the refresh runs behind it
    await new Promise((r) => setImmediate(r));
    await expect(provider.recipientKey(ref)).rejects.toBeInstanceOf(type);
    expect(ks.calls).toBe(3);
  });

  it('a refresh that finds the keystore down is not retried from the window; the waiting callers get the grace', async () => {
    const { ks, clock, provider } = setup({ graceMs: 30_000 });
    await provider.recipientKey(ref);
    ks.failure = 'down';
    clock.t += TTL + 10;
    expect((await provider.recipientKey(ref)).version).toBe(1);
    await new Promise((r) => setImmediate(r));
    expect(ks.calls).toBe(2);
    // Still in the window, but the window no longer serves it: this caller waits, the fetch fails, the grace serves.
    expect((await provider.recipientKey(ref)).version).toBe(1);
    expect(ks.calls).toBe(3);
    // Past TTL + grace the outage reaches the caller.
    clock.t += 30_000;
    await expect(provider.recipientKey(ref)).rejects.toBeInstanceOf(KeystoreUnavailableError);
    // Back up: fetched again, and the window works again for the new entry.
    ks.failure = undefined;
    ks.primary = 3;
    expect((await provider.recipientKey(ref)).version).toBe(3);
  });

  it('rejects a negative window', () => {
    expect(() => setup({ refreshWindowMs: -1 })).toThrow(RangeError);
  });
});
