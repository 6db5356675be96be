// A shared store of seen request nonces (DESIGN.md "Replay protection").
// A nonce is recorded with the identity of the delivery that claimed it
// (`origin`, e.g. the JetStream stream sequence) and a state:
//   in-progress + same origin  -> a redelivery of a message that did not
//                                 complete: not a replay (resumed)
//   done + same origin         -> a redelivery of a message that completed
//                                 (JetStream can hand back an acked message
//                                 after a server restart or failover): resumed,
//                                 so the handler answers again from the stored
//                                 effect and nothing happens twice
//   other origin               -> replay (a copy published again is a new
//                                 delivery with its own stream sequence)
import { ReplayError } from '@fle/protocol';

export type NonceState = 'in-progress' | 'done';

export interface NonceRecord {
  readonly state: NonceState;
  readonly origin: string;
}

export type ClaimOutcome = 'claimed' | 'resumed';

export interface NonceStore {
  /**
   * Atomically record `key` as in-progress for `origin`, remembered for `ttlMs`.
   * Returns `claimed` for a first sight, `resumed` for a redelivery of the same
   * origin (completed or not); throws ReplayError (`REPLAY_NONCE`) otherwise.
   */
  claim(key: string, origin: string, ttlMs: number): Promise<ClaimOutcome>;
  /** Mark the nonce done (only if `origin` still holds it). */
  complete(key: string, origin: string, ttlMs: number): Promise<void>;
  /** Forget an in-progress claim of `origin` (transient failure: a retry is not a replay). */
  release(key: string, origin: string): Promise<void>;
}

export function encodeNonceRecord(r: NonceRecord): string {
  return JSON.stringify({ s: r.state, o: r.origin });
}

export function decodeNonceRecord(text: string): NonceRecord | undefined {
  try {
    const v = JSON.parse(text) as { s?: unknown; o?: unknown };
    if ((v.s === 'in-progress' || v.s === 'done') && typeof v.o === 'string') return { state: v.s, origin: v.o };
  } catch {
    // fall through
  }
  return undefined;
}

/** Decide what an existing record means for a new claim by `origin`. */
export function judgeExisting(existing: NonceRecord | undefined, origin: string): ClaimOutcome {
  if (existing && existing.origin === origin) return 'resumed';
  throw new ReplayError('REPLAY_NONCE', 'request nonce already used');
}

/** In-process store for unit tests and single-instance development. */
export class MemoryNonceStore implements NonceStore {
  readonly #entries = new Map<string, { record: NonceRecord; expires: number }>();
  constructor(private readonly now: () => number = Date.now) {}

  #live(key: string): NonceRecord | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    if (e.expires <= this.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return e.record;
  }

  async claim(key: string, origin: string, ttlMs: number): Promise<ClaimOutcome> {
    const existing = this.#live(key);
    if (existing) return judgeExisting(existing, origin);
    this.#entries.set(key, { record: { state: 'in-progress', origin }, expires: this.now() + ttlMs });
    return 'claimed';
  }

  async complete(key: string, origin: string, ttlMs: number): Promise<void> {
    const existing = this.#live(key);
    if (existing && existing.origin === origin) {
      this.#entries.set(key, { record: { state: 'done', origin }, expires: this.now() + ttlMs });
    }
  }

  async release(key: string, origin: string): Promise<void> {
    const existing = this.#live(key);
    if (existing && existing.origin === origin && existing.state === 'in-progress') this.#entries.delete(key);
  }

  get size(): number {
    return this.#entries.size;
  }
}
