// Public keys of X25519 key rings (GetPublicKey), for clients that seal with
// HPKE (envelope alg 3/4, docs/envelope-hpke.md) and hold no secret key: a
// `fetch-public` identity gets these and nothing else. It is field-crypto's
// RecipientKeyProvider (HpkeSealer's `recipients`).
//
// Cache: a fetched public key is served for `ttlMs`, then fetched again, so a
// promotion reaches clients within the TTL (rotation is staged: promote a
// pending version only after the longest client TTL, and keep the old version
// decrypt-only until then). Concurrent misses share one RPC. While the keystore
// is unreachable, a key is served up to TTL + grace after its fetch.
//
// Refresh window (as the secret-key cache, caching-key-provider.ts): a caller
// that finds a key at most `refreshWindowMs` past its TTL gets it at once and
// starts one background fetch that replaces it, or drops it when the keystore
// answers that the ring is gone or the identity is denied. So a sender never
// waits for the keystore in the steady state, and fetches stay one per TTL. A
// refresh that finds the keystore unreachable is not retried from the window:
// the next caller waits for a fetch, and the grace rule above applies.
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { UnknownKeyRingError, type KeyRingRef } from '@fle/field-crypto';
import {
  KeyAlg,
  KeyKind,
  KeystoreServiceClient,
  KeyVersionState,
  type PublicKey,
} from '@fle/schema/gen/fle/keystore/v1/keystore.js';
import { KeystorePermissionDeniedError, KeystoreResponseError, KeystoreUnavailableError } from './errors.js';
import { classifyStatus, DEFAULT_CHANNEL_OPTIONS } from './grpc-fetcher.js';
import { keystoreAddress, keystoreCredentials, type KeystoreConnectionOptions } from './keystore-key-provider.js';

/** The primary version of an X25519 ring: field-crypto's RecipientPublicKey. */
export interface FetchedPublicKey {
  readonly version: number;
  /** 32 bytes. */
  readonly publicKey: Uint8Array;
}

export interface PublicKeyCacheOptions {
  /** How long a fetched public key is served without asking again. Default 60 000 ms. */
  ttlMs?: number;
  /** How much longer it is served while the keystore is unreachable. Default 300 000 ms. */
  graceMs?: number;
  /**
   * How long past its TTL a cached key is still handed out at once while one
   * background fetch refreshes it; 0: callers wait for the fetch. Default 5000 ms, at most `graceMs`.
   */
  refreshWindowMs?: number;
  /** Clock (ms); tests inject one. */
  now?: () => number;
}

/** One GetPublicKey call; the provider makes its own gRPC client unless tests inject this. */
export type PublicKeyFetch = (ref: KeyRingRef) => Promise<FetchedPublicKey>;

export interface KeystorePublicKeyProviderOptions extends KeystoreConnectionOptions, PublicKeyCacheOptions {
  /** Tests: stands in for the keystore (no connection is made). */
  fetch?: PublicKeyFetch;
}

interface Entry {
  readonly key: FetchedPublicKey;
  readonly at: number;
  /** A background fetch for this entry runs (refresh window). */
  refreshing: boolean;
  /** A background fetch for this entry found the keystore unreachable: the window no longer serves it. */
  refreshFailed: boolean;
}

/**
 * const recipients = new KeystorePublicKeyProvider({ tls: pki.files('client') });
 * const sealer = new HpkeSealer({ schema, recipients });
 */
export class KeystorePublicKeyProvider {
  readonly address: string;
  readonly #client: KeystoreServiceClient | undefined;
  readonly #fetchKey: PublicKeyFetch;
  readonly #timeoutMs: number;
  readonly #ttl: number;
  readonly #grace: number;
  readonly #refreshWindow: number;
  readonly #now: () => number;
  readonly #cache = new Map<string, Entry>();
  readonly #inflight = new Map<string, Promise<Entry>>();

  constructor(opts: KeystorePublicKeyProviderOptions) {
    this.address = keystoreAddress(opts.address);
    this.#timeoutMs = opts.rpcTimeoutMs ?? 2000;
    this.#ttl = opts.ttlMs ?? 60_000;
    this.#grace = opts.graceMs ?? 300_000;
    const window = opts.refreshWindowMs ?? 5000;
    if (!(this.#ttl > 0) || !(this.#grace >= 0) || !(window >= 0)) throw new RangeError('ttlMs must be positive, graceMs and refreshWindowMs not negative');
    // Never past TTL + grace: an unreachable keystore ends the serving there either way.
    this.#refreshWindow = Math.min(window, this.#grace);
    this.#now = opts.now ?? Date.now;
    if (opts.fetch) {
      this.#fetchKey = opts.fetch;
    } else {
      const client = new KeystoreServiceClient(this.address, keystoreCredentials(opts), { ...DEFAULT_CHANNEL_OPTIONS, ...opts.channelOptions });
      this.#client = client;
      this.#fetchKey = (ref) => this.#fetch(client, ref);
    }
  }

  /** The public key of the ring's primary version (cached). */
  async recipientKey(ref: KeyRingRef): Promise<FetchedPublicKey> {
    const k = JSON.stringify([ref.tenant, ref.ring]);
    const cached = this.#cache.get(k);
    if (cached) {
      const age = this.#now() - cached.at;
      if (age < this.#ttl) return cached.key;
      if (age < this.#ttl + this.#refreshWindow && !cached.refreshFailed) {
        if (!cached.refreshing && !this.#inflight.has(k)) this.#refresh(k, ref, cached);
        return cached.key;
      }
    }
    try {
      return (await this.#flight(k, ref)).key;
    } catch (err) {
      if (err instanceof KeystoreUnavailableError && cached && this.#now() - cached.at < this.#ttl + this.#grace) return cached.key;
      throw err;
    }
  }

  /** Forgets every cached public key. */
  clear(): void {
    this.#cache.clear();
  }

  close(): void {
    this.clear();
    this.#client?.close();
  }

  /**
   * The one fetch for `k` (shared by every caller that waits, and by a
   * refresh): a fetched key replaces the cached one; an answer that the ring is
   * gone or the identity denied drops it; an unreachable keystore leaves it.
   */
  #flight(k: string, ref: KeyRingRef): Promise<Entry> {
    let flight = this.#inflight.get(k);
    if (!flight) {
      const at = this.#now();
      flight = this.#fetchKey(ref).then(
        (key) => {
          const entry: Entry = { key, at, refreshing: false, refreshFailed: false };
          this.#cache.set(k, entry);
          return entry;
        },
        (err: unknown) => {
          if (!(err instanceof KeystoreUnavailableError)) this.#cache.delete(k);
          throw err;
        },
      );
      this.#inflight.set(k, flight);
      const done = (): void => void this.#inflight.delete(k);
      flight.then(done, done);
    }
    return flight;
  }

  /** One background fetch for an entry in its refresh window; its error reaches the next caller that waits. */
  #refresh(k: string, ref: KeyRingRef, entry: Entry): void {
    entry.refreshing = true;
    this.#flight(k, ref).catch((err: unknown) => {
      entry.refreshing = false;
      if (err instanceof KeystoreUnavailableError) entry.refreshFailed = true;
    });
  }

  #fetch(client: KeystoreServiceClient, ref: KeyRingRef): Promise<FetchedPublicKey> {
    return new Promise((resolve, reject) => {
      client.getPublicKey({ tenant: ref.tenant, ring: ref.ring }, new Metadata(), { deadline: Date.now() + this.#timeoutMs }, (err, res) => {
        if (err) {
          reject(failure(err, ref));
          return;
        }
        try {
          resolve(checked(res.key, ref));
        } catch (e) {
          reject(e);
        }
      });
    });
  }
}

function failure(err: ServiceError, ref: KeyRingRef): Error {
  const kind = classifyStatus(err.code);
  if (kind === 'unavailable') return new KeystoreUnavailableError(ref.tenant, ref.ring, { cause: err });
  if (kind === 'denied') return new KeystorePermissionDeniedError(ref.tenant, ref.ring, { cause: err });
  if (kind === 'not-found') {
    // No such ring, or a symmetric one (FAILED_PRECONDITION): nothing to seal to.
    const e = new UnknownKeyRingError(ref.tenant, ref.ring);
    Object.defineProperty(e, 'cause', { value: err, enumerable: false });
    return e;
  }
  return new KeystoreResponseError(`${status[err.code] ?? err.code}: ${err.details}`, { cause: err });
}

/** A public key is only used if it is what was asked for: the ring's primary X25519 version. */
function checked(k: PublicKey | undefined, ref: KeyRingRef): FetchedPublicKey {
  const bad = (what: string): never => {
    throw new KeystoreResponseError(`keystore public key response for ${ref.tenant}/${ref.ring}: ${what}`);
  };
  const info = k?.info ?? bad('no key');
  if (info.tenant !== ref.tenant || info.ring !== ref.ring) bad('names another ring');
  if (info.kind !== KeyKind.KEY_KIND_X25519 || info.alg !== KeyAlg.KEY_ALG_HPKE_X25519_CHACHA20_POLY1305) bad('not an X25519 ring');
  if (info.state !== KeyVersionState.KEY_VERSION_STATE_PRIMARY) bad('not the primary version');
  if (!Number.isInteger(info.version) || info.version < 1 || info.version > 0xffff_ffff) bad('invalid version');
  if (k!.x25519PublicKey.length !== 32) bad('public key is not 32 bytes');
  return { version: info.version, publicKey: new Uint8Array(k!.x25519PublicKey) };
}
