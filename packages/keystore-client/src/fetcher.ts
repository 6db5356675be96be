// What the cache needs from a keystore: two fetches. The gRPC implementation
// is grpc-fetcher.ts; unit tests pass a fake.
import type { KeyRingRef, KeyVersionMaterial } from '@fle/field-crypto';

export type FetchedState = 'pending' | 'primary' | 'decrypt-only';

export interface FetchedKey {
  material: KeyVersionMaterial;
  /** The version's state when it was fetched (a fetched version can be primary). */
  state: FetchedState;
}

export interface KeyFetcher {
  fetchPrimary(ref: KeyRingRef): Promise<FetchedKey>;
  fetchVersion(ref: KeyRingRef, version: number): Promise<FetchedKey>;
  close(): void;
}

/**
 * How a fetch failed, as far as caching is concerned:
 * - `unavailable`: transient (keystore down, deadline, overloaded): serve stale within grace
 * - `denied`: the policy refuses this identity: drop the cached key, fail
 * - `not-found`: no such ring/version, or it is disabled/destroyed: drop, fail
 * - `failed`: anything else
 */
export type FetchFailureKind = 'unavailable' | 'denied' | 'not-found' | 'failed';

export class FetchFailure extends Error {
  /**
   * `not-found` only: the keystore has no such ring at all (an unknown tenant
   * or ring), not merely no such version, so no version of it need be asked for.
   */
  readonly unknownRing: boolean;
  constructor(readonly kind: FetchFailureKind, message: string, options?: { cause?: unknown; unknownRing?: boolean }) {
    super(message, options);
    this.name = 'FetchFailure';
    this.unknownRing = kind === 'not-found' && options?.unknownRing === true;
  }
}
