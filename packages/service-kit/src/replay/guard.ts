// ReplayGuard: the processor's replay check (DESIGN.md "Replay protection";
// the argument, hop by hop, is docs/replay.md).
// 1. the stamp's timestamp must be within ±window of now;
// 2. its nonce must not have been accepted before:
//    - over JetStream, when the message carries `Nats-Msg-Id` (the gateway sets
//      it to the nonce) and the request stream's duplicate window covers the
//      whole time a stamp stays acceptable: the id must equal the nonce and the
//      stamp must be within ±window of when the stream stored the message; the
//      stream's deduplication refused any second copy, so no store operation;
//    - otherwise (core NATS, gRPC, a JetStream message without an id): one
//      atomic claim in a store shared by every processor instance, per
//      tenant, remembered for 2×window. No "done" marking: the claim stays
//      in-progress; a redelivery of the same origin resumes it, anything else
//      is a replay.
import { ReplayError } from '@fle/protocol';
import type { ClaimOutcome, NonceStore } from './nonce-store.js';
import type { ReplayStamp } from '@fle/protocol';
import { requiredDuplicateWindowMs, type StreamDelivery } from './stream-dedupe.js';

export const DEFAULT_REPLAY_WINDOW_MS = 60_000;

export interface ReplayGuardOptions {
  readonly store: NonceStore;
  /** Accepted clock difference either way, default 60 000 ms. */
  readonly windowMs?: number;
  readonly now?: () => number;
  /**
   * The request stream's duplicate window (ms); when it is at least
   * requiredDuplicateWindowMs(windowMs), JetStream messages whose id is their
   * nonce need no store operation. Default 0: every nonce is claimed in the store.
   */
  readonly streamDuplicateWindowMs?: number;
}

/** A nonce held by one delivery. */
export interface NonceClaim {
  readonly outcome: ClaimOutcome;
  /** Nothing to do (no "done" marking: a claim stays until its TTL); kept for callers. */
  complete(): Promise<void>;
  /** Transient failure: frees a nonce this delivery claimed, so a retry is not a replay. */
  release(): Promise<void>;
}

const nothing = async (): Promise<void> => {};

export interface AdmitRequest {
  readonly tenant: string;
  readonly stamp: ReplayStamp;
  /** Identity of this delivery: JetStream `js:<stream>:<seq>`, otherwise unique per message. */
  readonly origin: string;
  /** A JetStream delivery: its message id, stored time and delivery count. */
  readonly stream?: StreamDelivery;
}

export class ReplayGuard {
  readonly windowMs: number;
  readonly #store: NonceStore;
  readonly #now: () => number;
  /** JetStream messages carrying their nonce as id are guarded by the stream's deduplication. */
  readonly streamDedupe: boolean;

  constructor(opts: ReplayGuardOptions) {
    this.windowMs = opts.windowMs ?? DEFAULT_REPLAY_WINDOW_MS;
    if (!(this.windowMs > 0)) throw new RangeError('windowMs must be > 0');
    this.#store = opts.store;
    this.#now = opts.now ?? Date.now;
    this.streamDedupe = (opts.streamDuplicateWindowMs ?? 0) >= requiredDuplicateWindowMs(this.windowMs);
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
    const s = req.stream;
    if (s?.msgId !== undefined) {
      // Bound: the id the stream deduplicates on must be the nonce in the AAD.
      if (s.msgId !== req.stamp.nonce) throw new ReplayError('REPLAY_NONCE', 'message id is not the request nonce');
      if (this.streamDedupe) {
        if (!(Math.abs(s.storedAtMs - req.stamp.timestampMs) <= this.windowMs)) {
          throw new ReplayError('REPLAY_TIMESTAMP', `request timestamp outside the ±${this.windowMs} ms window`);
        }
        return { outcome: s.deliveries > 1 ? 'resumed' : 'claimed', complete: nothing, release: nothing };
      }
    }
    const key = ReplayGuard.keyOf(req.tenant, req.stamp.nonce);
    const outcome = await this.#store.claim(key, req.origin, this.ttlMs);
    const store = this.#store;
    return {
      outcome,
      complete: nothing,
      // Only the delivery that created the claim frees it; a resumed one leaves it held.
      release: outcome === 'claimed' ? () => store.release(key, req.origin) : nothing,
    };
  }
}
