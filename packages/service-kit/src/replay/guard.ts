// ReplayGuard: the processor's replay check (DESIGN.md "Replay protection").
// 1. the stamp's timestamp must be within ±window of now;
// 2. its nonce must not have been accepted before, per tenant, in a store shared
//    by every processor instance; it is remembered for 2×window, which covers
//    the whole time the timestamp stays acceptable.
import { ReplayError } from '@fle/protocol';
import type { ClaimOutcome, NonceStore } from './nonce-store.js';
import type { ReplayStamp } from '@fle/protocol';

export const DEFAULT_REPLAY_WINDOW_MS = 60_000;

export interface ReplayGuardOptions {
  readonly store: NonceStore;
  /** Accepted clock difference either way, default 60 000 ms. */
  readonly windowMs?: number;
  readonly now?: () => number;
}

/** A nonce held by one delivery; complete it after the reply and effects are done. */
export interface NonceClaim {
  readonly outcome: ClaimOutcome;
  complete(): Promise<void>;
  release(): Promise<void>;
}

export interface AdmitRequest {
  readonly tenant: string;
  readonly stamp: ReplayStamp;
  /** Identity of this delivery: JetStream `js:<stream>:<seq>`, otherwise unique per message. */
  readonly origin: string;
}

export class ReplayGuard {
  readonly windowMs: number;
  readonly #store: NonceStore;
  readonly #now: () => number;

  constructor(opts: ReplayGuardOptions) {
    this.windowMs = opts.windowMs ?? DEFAULT_REPLAY_WINDOW_MS;
    if (!(this.windowMs > 0)) throw new RangeError('windowMs must be > 0');
    this.#store = opts.store;
    this.#now = opts.now ?? Date.now;
  }

  /** Nonce TTL: twice the window (HELPERS.md: `fle_nonces` TTL = window*2). */
  get ttlMs(): number {
    return this.windowMs * 2;
  }

  /** The store key: per tenant, so one tenant cannot burn another's nonces. */
  static keyOf(tenant: string, nonce: string): string {
    return `${tenant}.${nonce}`;
  }

  async admit(req: AdmitRequest): Promise<NonceClaim> {
    const skew = Math.abs(this.#now() - req.stamp.timestampMs);
    if (!(skew <= this.windowMs)) {
      throw new ReplayError('REPLAY_TIMESTAMP', `request timestamp outside the ±${this.windowMs} ms window`);
    }
    const key = ReplayGuard.keyOf(req.tenant, req.stamp.nonce);
    const outcome = await this.#store.claim(key, req.origin, this.ttlMs);
    const store = this.#store;
    const ttl = this.ttlMs;
    return {
      outcome,
      complete: () => store.complete(key, req.origin, ttl),
      release: () => store.release(key, req.origin),
    };
  }
}
