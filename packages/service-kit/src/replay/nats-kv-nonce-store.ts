// Nonce store on NATS KV (bucket `fle_nonces`), shared by every processor
// instance. `kv.create` fails atomically when the key exists (JetStream
// expected-last-subject-sequence 0), so two instances cannot both claim a nonce.
// The bucket's max age is the TTL (NATS 2.9 has no per-key TTL): window × 2.
// Its size is bounded by the JetStream budget (@fle/nats-setup JETSTREAM_BUDGET.nonces);
// a full bucket refuses new nonces with STORE_FULL (RESOURCE_EXHAUSTED, retried later).
import type { JetStreamClient, KV, KvEntry, MsgHdrs } from 'nats';
import { JETSTREAM_BUDGET, applyStreamBudget, kvLimits } from '@fle/nats-setup';
import { RoutingError } from '@fle/protocol';
import { storeFullOr } from '../jetstream-errors.js';
import { NatsHeaderBuilder } from '../nats-headers.js';
import type { ReplyInbox } from '../reply-inbox.js';
import { decodeNonceRecord, encodeNonceRecord, judgeExisting, type ClaimOutcome, type NonceStore } from './nonce-store.js';

export const NONCE_BUCKET = 'fle_nonces';

const enc = new TextEncoder();
const dec = new TextDecoder();

function isConflict(err: unknown): boolean {
  const e = err as { api_error?: { err_code?: number }; message?: string } | undefined;
  return e?.api_error?.err_code === 10071 || /wrong last sequence/i.test(e?.message ?? '');
}

function unavailable(err: unknown): Error {
  return storeFullOr(err, 'the replay-nonce store', (e) => new RoutingError('UPSTREAM_UNAVAILABLE', 'nonce store unavailable', { cause: e }));
}

function live(e: KvEntry | null): KvEntry | undefined {
  return e && e.operation === 'PUT' ? e : undefined;
}

export interface NatsKvNonceStoreOptions {
  readonly bucket?: string;
  /** Bucket max age; must be at least 2 × replay window. */
  readonly ttlMs: number;
  readonly replicas?: number;
  /**
   * A reply inbox on the connection `js` was made from: a claim of a new
   * nonce is then published through it (one map entry) rather than as a
   * nats.js request (a NatsError with a stack trace per claim:
   * reply-inbox.ts). Without it every claim goes through nats.js's KV.
   */
  readonly replies?: ReplyInbox;
}

/** JetStream's "this subject has no message yet" expectation (what nats.js's KV create sends). */
const EXPECTED_LAST_SUBJECT_SEQUENCE = 'Nats-Expected-Last-Subject-Sequence';
/** How long a claim waits for JetStream's acknowledgement (nats.js's own default). */
const ACK_TIMEOUT_MS = 5000;
/** Keys as nats.js KV accepts them (validateKey): only these take the published path. */
const PLAIN_KEY = /^[-/=\w]+(?:\.[-/=\w]+)*$/;

/** The subject nats.js writes `key` of `kv` to, when the bucket tells it (undefined otherwise). */
function writeSubjectOf(kv: KV): ((key: string) => string) | undefined {
  const bucket = kv as KV & { subjectForKey?(key: string, edit?: boolean): string };
  return typeof bucket.subjectForKey === 'function' ? (key) => bucket.subjectForKey!(key, true) : undefined;
}

export class NatsKvNonceStore implements NonceStore {
  readonly #fast: { readonly replies: ReplyInbox; readonly subjectOf: (key: string) => string; readonly headers: MsgHdrs } | undefined;

  constructor(
    private readonly kv: KV,
    replies?: NatsKvNonceStoreOptions['replies'],
  ) {
    const subjectOf = writeSubjectOf(kv);
    this.#fast = replies && subjectOf ? { replies, subjectOf, headers: new NatsHeaderBuilder().set(EXPECTED_LAST_SUBJECT_SEQUENCE, '0').headers } : undefined;
  }

  /** Create (or bind to) the bucket with its TTL and its share of the JetStream budget. */
  static async open(js: JetStreamClient, opts: NatsKvNonceStoreOptions): Promise<NatsKvNonceStore> {
    const bucket = opts.bucket ?? NONCE_BUCKET;
    const budget = { ...JETSTREAM_BUDGET.nonces, stream: `KV_${bucket}` };
    const kv = await js.views.kv(bucket, { ttl: opts.ttlMs, history: 1, replicas: opts.replicas ?? 1, ...kvLimits(budget) });
    // KV options cannot set the message limit; an older bucket may have no limits at all.
    await applyStreamBudget(await js.jetstreamManager(), budget);
    return new NatsKvNonceStore(kv, opts.replies);
  }

  async claim(key: string, origin: string, _ttlMs: number): Promise<ClaimOutcome> {
    const fast = this.#fast;
    // A new nonce (nearly every claim): the create nats.js's KV would make,
    // published through the reply inbox. Anything else (the key exists, or
    // was deleted: nats.js's create turns that into an update) goes on below.
    if (fast && PLAIN_KEY.test(key)) {
      try {
        await fast.replies.publishForAck(fast.subjectOf(key), enc.encode(encodeNonceRecord({ state: 'in-progress', origin })), fast.headers, ACK_TIMEOUT_MS);
        return 'claimed';
      } catch (err) {
        if (!isConflict(err)) throw unavailable(err);
      }
    }
    // Two rounds at most: the second covers a key that expired between create and get.
    for (let round = 0; round < 2; round++) {
      try {
        await this.kv.create(key, enc.encode(encodeNonceRecord({ state: 'in-progress', origin })));
        return 'claimed';
      } catch (err) {
        if (!isConflict(err)) throw unavailable(err);
      }
      let existing: KvEntry | undefined;
      try {
        existing = live(await this.kv.get(key));
      } catch (err) {
        throw unavailable(err);
      }
      if (existing) return judgeExisting(decodeNonceRecord(dec.decode(existing.value)), origin);
    }
    return judgeExisting(undefined, origin);
  }

  async complete(key: string, origin: string, _ttlMs: number): Promise<void> {
    try {
      const e = live(await this.kv.get(key));
      if (!e || decodeNonceRecord(dec.decode(e.value))?.origin !== origin) return;
      await this.kv.update(key, enc.encode(encodeNonceRecord({ state: 'done', origin })), e.revision);
    } catch (err) {
      if (!isConflict(err)) throw unavailable(err);
    }
  }

  async release(key: string, origin: string): Promise<void> {
    try {
      const e = live(await this.kv.get(key));
      const r = e ? decodeNonceRecord(dec.decode(e.value)) : undefined;
      if (!e || r?.origin !== origin || r.state !== 'in-progress') return;
      await this.kv.delete(key, { previousSeq: e.revision });
    } catch (err) {
      if (!isConflict(err)) throw unavailable(err);
    }
  }
}
