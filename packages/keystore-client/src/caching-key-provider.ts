// A KeyProvider in front of a keystore (DESIGN.md table: keystore-client owns
// "the cache (TTL, single-flight, refetch on unknown version), the primary-
// version choice for encryption").
//
// - TTL: an entry is served for `ttlMs` after its fetch started; then it is
//   fetched again, so a promotion (new primary) or a disabled version reaches
//   this process within the TTL (plus the refresh window below).
// - Refresh window: a caller that finds an entry at most `refreshWindowMs`
//   past its TTL is served it at once, and starts one background fetch that
//   replaces it (or drops it: disabled, denied). So in the steady state no
//   request waits for the keystore, and fetches stay one per TTL (a refresh
//   starts only once the TTL is over). Past the window, callers wait as on a miss.
// - Single-flight: concurrent misses for one key share one RPC; a version miss
//   also waits for a running primary fetch of its ring (and the other way
//   round), since either may return the wanted key. Under load that keeps the
//   fetches at most one per process, key version and TTL.
// - Unknown version: a version not in the cache is fetched; "no such version"
//   is remembered for `negativeTtlMs` so a flood of bogus versions does not
//   become a flood of RPCs. "No such ring" (an unknown tenant or ring: a
//   primary not found, or the keystore's "key ring ... does not exist") is
//   remembered for the whole ring, so a request naming an unknown tenant costs
//   one keystore fetch (and one audit line) per ring and negative TTL, not one
//   per version it names.
// - Keys die with their entries: a key the cache drops (ring denied or not
//   found, version gone, clear/close) or replaces is retired (SecretKey.retire:
//   destroyed once no operation holds it), in a later macrotask, so a caller
//   the cache handed it to in this turn has acquired it first (FieldCipher
//   does, in the turn it receives it). A refetch that brings the same key for
//   a version keeps the object callers already hold and destroys the copy.
// - Outage: while the keystore is unreachable, entries are served up to
//   TTL + grace after their fetch; after that KeystoreUnavailableError. After a
//   failed fetch the client backs off (exponentially, capped) before the next
//   RPC, serving stale entries or failing fast meanwhile.
// - PERMISSION_DENIED drops what was cached for the ring and throws
//   KeystorePermissionDeniedError: a revoked identity loses its keys at the next fetch.
import { UnknownKeyRingError, UnknownKeyVersionError, type KeyProvider, type KeyRingRef, type KeyVersionMaterial } from '@fle/field-crypto';
import type { Registry } from 'prom-client';
import { KeystorePermissionDeniedError, KeystoreResponseError, KeystoreUnavailableError } from './errors.js';
import { FetchFailure, type FetchedKey, type KeyFetcher } from './fetcher.js';
import { KeyCacheMetrics, type KeyCacheStats } from './metrics.js';

export interface KeyCacheOptions {
  /** How long a fetched key is served without asking again. Default 60 000 ms. */
  ttlMs?: number;
  /** How much longer a key is served while the keystore is unreachable. Default 300 000 ms. */
  graceMs?: number;
  /**
   * How long past its TTL an entry is still served while one background fetch
   * refreshes it; 0: callers wait for the fetch. Default 5000 ms, at most `graceMs`.
   */
  refreshWindowMs?: number;
  /** How long "no such version/ring" is remembered. Default 1000 ms. */
  negativeTtlMs?: number;
  /** Backoff between fetch attempts after a keystore failure. Default 100 ms doubling to 2000 ms. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** prom-client registry to export the counters to (optional). */
  registry?: Registry;
  /** Clock (ms); tests inject one. */
  now?: () => number;
}

/** Upper bound of remembered "no such version" answers. */
const MAX_NEGATIVE_ENTRIES = 4096;

interface Entry {
  fetched: FetchedKey;
  /** When the fetch started (conservative: the key's state is at least this fresh). */
  at: number;
  /**
   * A background refresh of this entry started, as the ring's primary or as
   * its version (one entry can be both): at most one each, a failed one is not
   * retried from the window.
   */
  refreshingPrimary?: boolean;
  refreshingVersion?: boolean;
}

/** What is cached for one (tenant, ring): its primary and the versions seen. */
interface RingCache {
  primary: Entry | undefined;
  readonly versions: Map<number, Entry>;
}

export class CachingKeyProvider implements KeyProvider {
  readonly #fetcher: KeyFetcher;
  readonly #ttl: number;
  readonly #grace: number;
  readonly #refreshWindow: number;
  readonly #negativeTtl: number;
  readonly #backoffInitial: number;
  readonly #backoffMax: number;
  readonly #now: () => number;
  readonly #metrics: KeyCacheMetrics;

  /**
   * tenant -> ring -> cache. Nested maps rather than one string key: a cache
   * hit (every seal and open of every message) builds no string.
   */
  readonly #rings = new Map<string, Map<string, RingCache>>();
  readonly #negative = new Map<string, number>();
  /** Running fetches by single-flight key (`p|ring` or `v|ring|version`); negative entries also by `r|ring` (no such ring). */
  readonly #inflight = new Map<string, Promise<Entry>>();
  /** Running fetches per ring (both kinds), so one kind can wait for the other. */
  readonly #inflightByRing = new Map<string, Set<Promise<Entry>>>();
  #backoffMs = 0;
  #retryAt = 0;

  constructor(fetcher: KeyFetcher, opts: KeyCacheOptions = {}) {
    this.#fetcher = fetcher;
    this.#ttl = positive(opts.ttlMs ?? 60_000, 'ttlMs');
    this.#grace = nonNegative(opts.graceMs ?? 300_000, 'graceMs');
    // Never past TTL + grace: an unreachable keystore ends the serving there either way.
    this.#refreshWindow = Math.min(nonNegative(opts.refreshWindowMs ?? 5000, 'refreshWindowMs'), this.#grace);
    this.#negativeTtl = nonNegative(opts.negativeTtlMs ?? 1000, 'negativeTtlMs');
    this.#backoffInitial = positive(opts.backoff?.initialMs ?? 100, 'backoff.initialMs');
    this.#backoffMax = Math.max(this.#backoffInitial, opts.backoff?.maxMs ?? 2000);
    this.#now = opts.now ?? Date.now;
    this.#metrics = new KeyCacheMetrics(opts.registry);
  }

  cachedPrimaryKey(ref: KeyRingRef): KeyVersionMaterial | undefined {
    const cached = this.#ring(ref)?.primary;
    return cached === undefined || !this.#usable(cached, ref, undefined) ? undefined : cached.fetched.material;
  }

  cachedKeyVersion(ref: KeyRingRef, version: number): KeyVersionMaterial | undefined {
    const cached = this.#ring(ref)?.versions.get(version);
    return cached === undefined || !this.#usable(cached, ref, version) ? undefined : cached.fetched.material;
  }

  /**
   * Fresh, or within the refresh window (then a background refresh runs),
   * and counted as served; false: the caller waits for a fetch. In the
   * window while the keystore is failing (backing off) it counts as stale.
   */
  #usable(entry: Entry, ref: KeyRingRef, version: number | undefined): boolean {
    const now = this.#now();
    const age = now - entry.at;
    if (age < this.#ttl) {
      this.#metrics.hit();
      return true;
    }
    if (age >= this.#ttl + this.#refreshWindow) return false;
    if (!(version === undefined ? entry.refreshingPrimary : entry.refreshingVersion)) this.#refresh(entry, ref, version);
    if (now < this.#retryAt) this.#metrics.staleServed();
    else this.#metrics.hit();
    return true;
  }

  /**
   * One background fetch of an entry in its refresh window (none while a
   * fetch for its ring runs, or while backing off after a failure). Its outcome lands in the
   * cache as a waited-for fetch's would (replaced, dropped when disabled or
   * denied, backoff when unreachable); the error itself reaches the next caller that waits.
   */
  #refresh(entry: Entry, ref: KeyRingRef, version: number | undefined): void {
    const rk = ringKey(ref);
    // Any fetch for the ring may bring this key (a primary fetch also caches
    // its version): one at a time keeps fetches at one per key version and TTL.
    if ((this.#inflightByRing.get(rk)?.size ?? 0) > 0 || this.#now() < this.#retryAt) return;
    if (version === undefined) entry.refreshingPrimary = true;
    else entry.refreshingVersion = true;
    this.#metrics.refreshStarted();
    const flightKey = version === undefined ? `p|${rk}` : `v|${rk}|${version}`;
    const fetch = version === undefined ? () => this.#fetcher.fetchPrimary(ref) : () => this.#fetcher.fetchVersion(ref, version);
    this.#flight(ref, flightKey, fetch).catch((err: unknown) => this.#failed(ref, version, flightKey, err));
  }

  async primaryKey(ref: KeyRingRef): Promise<KeyVersionMaterial> {
    // Hit path first: no closure, no string.
    const cached = this.cachedPrimaryKey(ref);
    if (cached !== undefined) return cached;
    this.#metrics.miss();
    const rk = ringKey(ref);
    return this.#get(ref, undefined, `p|${rk}`, () => this.#ring(ref)?.primary, () => this.#fetcher.fetchPrimary(ref));
  }

  async keyVersion(ref: KeyRingRef, version: number): Promise<KeyVersionMaterial> {
    if (!Number.isInteger(version) || version < 1 || version > 0xffff_ffff) throw new UnknownKeyVersionError(ref.tenant, ref.ring, version);
    const cached = this.cachedKeyVersion(ref, version);
    if (cached !== undefined) return cached;
    this.#metrics.miss();
    const rk = ringKey(ref);
    return this.#get(ref, version, `v|${rk}|${version}`, () => this.#ring(ref)?.versions.get(version), () =>
      this.#fetcher.fetchVersion(ref, version),
    );
  }

  #ring(ref: KeyRingRef): RingCache | undefined {
    return this.#rings.get(ref.tenant)?.get(ref.ring);
  }

  #ringForWrite(ref: KeyRingRef): RingCache {
    let byRing = this.#rings.get(ref.tenant);
    if (!byRing) this.#rings.set(ref.tenant, (byRing = new Map()));
    let ring = byRing.get(ref.ring);
    if (!ring) byRing.set(ref.ring, (ring = { primary: undefined, versions: new Map() }));
    return ring;
  }

  stats(): KeyCacheStats {
    return this.#metrics.snapshot();
  }

  /**
   * Forgets every cached key and retires it: destroyed once no operation
   * holds it (a seal or open in progress finishes first).
   */
  clear(): void {
    for (const byRing of this.#rings.values()) for (const ring of byRing.values()) retireRing(ring);
    this.#rings.clear();
    this.#negative.clear();
  }

  close(): void {
    this.clear();
    this.#fetcher.close();
  }

  /** The miss path (the callers served fresh entries already): negative cache, single-flight fetch, outage rules. */
  async #get(
    ref: KeyRingRef,
    version: number | undefined,
    flightKey: string,
    lookup: () => Entry | undefined,
    fetch: () => Promise<FetchedKey>,
  ): Promise<KeyVersionMaterial> {
    const now = this.#now();
    for (const key of [`r|${ringKey(ref)}`, flightKey]) {
      const negativeUntil = this.#negative.get(key);
      if (negativeUntil === undefined) continue;
      if (negativeUntil > now) throw notFound(ref, version);
      this.#negative.delete(key);
    }
    // A fetch of the other kind for this ring may already be bringing this key.
    const others = this.#inflightByRing.get(ringKey(ref));
    if (others && others.size > 0 && !this.#inflight.has(flightKey)) {
      await Promise.allSettled([...others]);
      const joined = lookup();
      if (joined && this.#now() - joined.at < this.#ttl) return joined.fetched.material;
    }
    if (this.#now() < this.#retryAt && !this.#inflight.has(flightKey)) {
      return this.#staleOr(ref, lookup, new FetchFailure('unavailable', 'backing off after a keystore failure'));
    }
    try {
      return (await this.#flight(ref, flightKey, fetch)).fetched.material;
    } catch (err) {
      const failure = this.#failed(ref, version, flightKey, err);
      switch (failure.kind) {
        case 'unavailable':
          return this.#staleOr(ref, lookup, failure);
        case 'denied':
          throw new KeystorePermissionDeniedError(ref.tenant, ref.ring, { cause: failure });
        case 'not-found':
          throw notFound(ref, version, failure);
        default:
          throw new KeystoreResponseError(`keystore fetch for ${ref.tenant}/${ref.ring} failed: ${failure.message}`, { cause: failure });
      }
    }
  }

  /**
   * What a failed fetch changes in the cache, whoever waited for it: denied
   * drops the ring, not-found drops the key (and remembers it briefly).
   * (Unreachable: #fetchAndStore already set the backoff.)
   */
  #failed(ref: KeyRingRef, version: number | undefined, flightKey: string, err: unknown): FetchFailure {
    const failure = err instanceof FetchFailure ? err : new FetchFailure('failed', 'keystore fetch failed', { cause: err });
    if (failure.kind === 'denied') this.#forgetRing(ref);
    else if (failure.kind === 'not-found') {
      // A primary not found means no such ring (every ring has one); so does the keystore's "does not exist".
      const noRing = version === undefined || failure.unknownRing;
      if (noRing) this.#forgetRing(ref);
      else this.#forgetVersion(ref, version);
      if (this.#negativeTtl > 0) this.#remember(noRing ? `r|${ringKey(ref)}` : flightKey);
    }
    return failure;
  }

  /**
   * Remembers a "no such key" answer. Bounded: bogus versions (envelopes are
   * attacker-controlled) must not grow memory without limit.
   */
  #remember(flightKey: string): void {
    const now = this.#now();
    if (this.#negative.size >= MAX_NEGATIVE_ENTRIES) {
      for (const [k, until] of this.#negative) if (until <= now) this.#negative.delete(k);
      if (this.#negative.size >= MAX_NEGATIVE_ENTRIES) this.#negative.clear();
    }
    this.#negative.set(flightKey, now + this.#negativeTtl);
  }

  #staleOr(ref: KeyRingRef, lookup: () => Entry | undefined, cause: FetchFailure): KeyVersionMaterial {
    const e = lookup();
    if (e && this.#now() - e.at < this.#ttl + this.#grace) {
      this.#metrics.staleServed();
      return e.fetched.material;
    }
    throw new KeystoreUnavailableError(ref.tenant, ref.ring, { cause });
  }

  /** Single-flight: one RPC per key however many callers miss at once. */
  #flight(ref: KeyRingRef, flightKey: string, fetch: () => Promise<FetchedKey>): Promise<Entry> {
    const running = this.#inflight.get(flightKey);
    if (running) return running;
    const rk = ringKey(ref);
    const p = this.#fetchAndStore(ref, fetch);
    this.#inflight.set(flightKey, p);
    let ringSet = this.#inflightByRing.get(rk);
    if (!ringSet) this.#inflightByRing.set(rk, (ringSet = new Set()));
    ringSet.add(p);
    const done = (): void => {
      this.#inflight.delete(flightKey);
      ringSet.delete(p);
      if (ringSet.size === 0) this.#inflightByRing.delete(rk);
    };
    p.then(done, done);
    return p;
  }

  async #fetchAndStore(ref: KeyRingRef, fetch: () => Promise<FetchedKey>): Promise<Entry> {
    const at = this.#now();
    const t0 = performance.now();
    let fetched: FetchedKey;
    try {
      fetched = await fetch();
    } catch (err) {
      const kind = err instanceof FetchFailure ? err.kind : 'failed';
      this.#metrics.fetched(kind, performance.now() - t0);
      if (kind === 'unavailable') {
        this.#backoffMs = this.#backoffMs === 0 ? this.#backoffInitial : Math.min(this.#backoffMax, this.#backoffMs * 2);
        this.#retryAt = this.#now() + this.#backoffMs;
      }
      throw err;
    }
    const rk = ringKey(ref);
    const v = fetched.material.version;
    this.#metrics.fetched('ok', performance.now() - t0, `${ref.tenant}/${ref.ring}/${v}`);
    this.#backoffMs = 0;
    this.#retryAt = 0;
    const ring = this.#ringForWrite(ref);
    const known = ring.versions.get(v);
    let entry: Entry = { fetched, at };
    if (known !== undefined && sameKey(known.fetched.material, fetched.material)) {
      // The same key again: keep the object callers may hold; the fresh copy dies now (nobody has it).
      fetched.material.key.destroy();
      entry = { fetched: { material: known.fetched.material, state: fetched.state }, at };
    }
    if (!known || known.at <= at) ring.versions.set(v, entry);
    else entry = known; // a fetch that started later already answered: its answer stands
    this.#negative.delete(`v|${rk}|${v}`);
    this.#negative.delete(`r|${rk}`);
    const primary = ring.primary;
    if (entry === known) {
      // Nothing newer to learn about the primary.
    } else if (fetched.state === 'primary') {
      if (!primary || primary.at <= at) ring.primary = entry;
    } else if (primary && primary.fetched.material.version === v && primary.at <= at) {
      // The version we thought was primary no longer is: fetch the primary afresh next time.
      ring.primary = undefined;
    }
    // A key no entry of the ring holds any more (a version whose key changed) is retired.
    for (const old of [known?.fetched.material, primary?.fetched.material]) {
      if (old !== undefined && !ringHolds(ring, old)) retireSoon(old);
    }
    if (!ringHolds(ring, fetched.material) && fetched.material !== entry.fetched.material) retireSoon(fetched.material);
    return entry;
  }

  #forgetRing(ref: KeyRingRef): void {
    const byRing = this.#rings.get(ref.tenant);
    const ring = byRing?.get(ref.ring);
    if (ring) retireRing(ring);
    byRing?.delete(ref.ring);
    if (byRing?.size === 0) this.#rings.delete(ref.tenant);
  }

  #forgetVersion(ref: KeyRingRef, version: number | undefined): void {
    if (version === undefined) {
      this.#forgetRing(ref);
      return;
    }
    const ring = this.#ring(ref);
    if (!ring) return;
    const dropped = [ring.versions.get(version)?.fetched.material];
    ring.versions.delete(version);
    if (ring.primary?.fetched.material.version === version) {
      dropped.push(ring.primary.fetched.material);
      ring.primary = undefined;
    }
    for (const m of new Set(dropped)) if (m !== undefined && !ringHolds(ring, m)) retireSoon(m);
  }
}

/** True when a cache entry of `ring` still serves `m`. */
function ringHolds(ring: RingCache, m: KeyVersionMaterial): boolean {
  if (ring.primary?.fetched.material === m) return true;
  for (const e of ring.versions.values()) if (e.fetched.material === m) return true;
  return false;
}

/** Retires every key a ring's entries hold (the ring is being dropped). */
function retireRing(ring: RingCache): void {
  const materials = new Set<KeyVersionMaterial>();
  if (ring.primary) materials.add(ring.primary.fetched.material);
  for (const e of ring.versions.values()) materials.add(e.fetched.material);
  for (const m of materials) retireSoon(m);
}

/**
 * Retires a dropped key (SecretKey.retire: destroyed once no operation holds
 * it) in a later macrotask: a caller this cache handed the key to in the
 * current turn (a promise it resolved, a synchronous cached* answer) gets to
 * acquire it first. The timer does not keep the process alive.
 */
function retireSoon(m: KeyVersionMaterial): void {
  const timer = setTimeout(() => m.key.retire(), 0);
  (timer as { unref?: () => void }).unref?.();
}

/** Same version, alg and key bytes (both keys live; compared without early exit). */
function sameKey(a: KeyVersionMaterial, b: KeyVersionMaterial): boolean {
  if (a === b) return true;
  if (a.version !== b.version || a.alg !== b.alg || a.key.destroyed || b.key.destroyed) return false;
  const x = a.key.exposeBytes();
  const y = b.key.exposeBytes();
  let diff = x.length ^ y.length;
  for (let i = 0; i < x.length; i++) diff |= x[i]! ^ y[i]!;
  return diff === 0;
}

function ringKey(ref: KeyRingRef): string {
  // JSON keeps (tenant, ring) unambiguous whatever characters they hold.
  return JSON.stringify([ref.tenant, ref.ring]);
}

function notFound(ref: KeyRingRef, version: number | undefined, cause?: unknown): Error {
  const err = version === undefined ? new UnknownKeyRingError(ref.tenant, ref.ring) : new UnknownKeyVersionError(ref.tenant, ref.ring, version);
  if (cause !== undefined) Object.defineProperty(err, 'cause', { value: cause, enumerable: false });
  return err;
}

function positive(n: number, name: string): number {
  if (!Number.isFinite(n) || n <= 0) throw new RangeError(`${name} must be a positive number of milliseconds`);
  return n;
}

function nonNegative(n: number, name: string): number {
  if (!Number.isFinite(n) || n < 0) throw new RangeError(`${name} must be zero or a positive number of milliseconds`);
  return n;
}
