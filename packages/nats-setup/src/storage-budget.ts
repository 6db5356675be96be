// The JetStream storage budget of fle (issue 17 item 2): every stream and KV
// bucket fle creates has a byte limit, a message limit, a largest message and
// a discard policy, and the byte limits together stay under the server's
// `max_file_store`.
//
// Why this holds under a flood: nats-server reserves a stream's `max_bytes`
// against the server's store when the stream is created (a stream whose
// reservation does not fit is refused, JetStream API error 10047), so the
// store can never be filled past its limit by one stream, and each stream
// always has its own room. renderNatsConfig sets the account's
// `max_bytes_required`, so no stream without a byte limit can be created at
// all (10113). Before, the dead-letter stream had no limit, a flood of 4 MiB
// undecryptable requests filled the whole 1 GB store in ~21 s, and JetStream
// switched itself off.
//
// Discard policies:
// - FLE_REQUESTS: `new`. A full request stream refuses the publish, so the
//   gateway answers RESOURCE_EXHAUSTED; accepted work is never dropped.
// - FLE_DLQ: `old`. Dead letters are diagnostics (each holds at most a short
//   prefix of its request); under a flood the oldest go first, and writing a
//   dead letter never fails for want of room.
// - KV buckets: `new` (nats.js KV needs it for compare-and-set). A full
//   nonce or record bucket refuses the write: RESOURCE_EXHAUSTED, retried later.
import { NatsSetupError } from './errors.js';
import { KV_BUCKETS, STREAMS } from './permissions.js';

const KiB = 1024;
const MiB = 1024 * KiB;

export type DiscardPolicyName = 'new' | 'old';

export interface StreamBudget {
  /** JetStream stream name (a KV bucket `b` is stream `KV_b`). */
  readonly stream: string;
  /** `max_bytes`: reserved on the server when the stream is created. */
  readonly maxBytes: number;
  /** `max_msgs`. */
  readonly maxMsgs: number;
  /** `max_msg_size` (for a KV bucket: its largest value, `maxValueSize`). */
  readonly maxMsgSize: number;
  readonly discard: DiscardPolicyName;
}

/**
 * The budget, for a JetStream store of 512 MiB or more (the dev stack and the
 * tests run 1 GiB; deploy/nats 8 GB). The byte limits sum to
 * JETSTREAM_RESERVED_BYTES (256 MiB); the rest of the store is headroom for
 * consumer state, stream indexes, the buckets of the handlers the boundary
 * runs (a team's records: bounded by their own code) and other users.
 *
 * Sizes: a payment request is a few KiB, so 128 MiB of in-flight requests is
 * tens of thousands queued (a full stream pushes back on callers with
 * RESOURCE_EXHAUSTED, it never drops); a nonce entry is ~150 bytes, so 64 MiB
 * holds ~400 000, i.e. over 3 000 requests/s for twice a 60 s replay window;
 * a dead letter is at most ~6 KiB (1 KiB of body, 4 KiB of headers).
 */
export const JETSTREAM_BUDGET = Object.freeze({
  /** In-flight requests (work queue: a request leaves once handled). Largest message: the server's max_payload. */
  requests: Object.freeze({ stream: STREAMS.requests, maxBytes: 128 * MiB, maxMsgs: 100_000, maxMsgSize: 8 * MiB, discard: 'new' }),
  /** Dead letters: reason, subject, headers and a bounded prefix of the request (boundary dead-letter.ts). */
  deadLetters: Object.freeze({ stream: STREAMS.deadLetters, maxBytes: 32 * MiB, maxMsgs: 50_000, maxMsgSize: 64 * KiB, discard: 'old' }),
  /** Replay nonces (kept twice the replay window). */
  nonces: Object.freeze({ stream: `KV_${KV_BUCKETS.nonces}`, maxBytes: 64 * MiB, maxMsgs: 500_000, maxMsgSize: 1 * KiB, discard: 'new' }),
  /** The keystore's wrapped key rings. */
  keystore: Object.freeze({ stream: `KV_${KV_BUCKETS.keystore}`, maxBytes: 32 * MiB, maxMsgs: 100_000, maxMsgSize: 1 * MiB, discard: 'new' }),
} satisfies Record<string, StreamBudget>);

/** What the fle streams reserve together, on every server holding a replica of each. */
export const JETSTREAM_RESERVED_BYTES: number = Object.values(JETSTREAM_BUDGET).reduce((n, b) => n + b.maxBytes, 0);

/** The budget's limits as JetStream stream config fields (nats.js `StreamConfig`). */
export function streamLimits(b: StreamBudget): { max_bytes: number; max_msgs: number; max_msg_size: number; discard: DiscardPolicyName } {
  return { max_bytes: b.maxBytes, max_msgs: b.maxMsgs, max_msg_size: b.maxMsgSize, discard: b.discard };
}

/** The budget's limits as nats.js KV bucket options (the message limit is applied after, by applyStreamBudget). */
export function kvLimits(b: StreamBudget): { maxBucketSize: number; maxValueSize: number } {
  return { maxBucketSize: b.maxBytes, maxValueSize: b.maxMsgSize };
}

/** The part of nats.js' JetStreamManager that applyStreamBudget uses. */
export interface StreamAdmin {
  readonly streams: {
    info(name: string): Promise<{ config: StreamLimitFields & object }>;
    update(name: string, config: object): Promise<unknown>;
  };
}

interface StreamLimitFields {
  max_bytes?: number;
  max_msgs?: number;
  max_msg_size?: number;
  discard?: string;
}

/**
 * Gives an existing stream the budget's limits where it has none (created
 * before the budget existed, or by a KV call that cannot set `max_msgs`), and
 * the budget's discard policy always (with discard `old`, a full request
 * stream would silently drop accepted requests). Limits an operator set (any
 * positive value) are kept; so are all other settings, replicas included.
 * Returns whether it changed the stream.
 */
export async function applyStreamBudget(jsm: StreamAdmin, b: StreamBudget): Promise<'updated' | 'kept'> {
  const { config } = await jsm.streams.info(b.stream);
  const want = streamLimits(b);
  const unset = (v: number | undefined): boolean => v === undefined || v <= 0;
  const patch: Partial<typeof want> = {};
  if (unset(config.max_bytes)) patch.max_bytes = want.max_bytes;
  if (unset(config.max_msgs)) patch.max_msgs = want.max_msgs;
  if (unset(config.max_msg_size)) patch.max_msg_size = want.max_msg_size;
  if (config.discard !== want.discard) patch.discard = want.discard;
  if (Object.keys(patch).length === 0) return 'kept';
  await jsm.streams.update(b.stream, { ...config, ...patch });
  return 'updated';
}

/** `256MB`, `1GB`, `512K`… in bytes, as nats-server reads them (powers of 1024). */
export function parseStorageSize(text: string): number {
  const m = /^(\d+)(K|M|G|T)?B?$/i.exec(text);
  if (!m) throw new NatsSetupError('NATS_CONFIG_INVALID', `size ${JSON.stringify(text)} must look like 256MB`);
  const power = { '': 0, K: 1, M: 2, G: 3, T: 4 }[(m[2] ?? '').toUpperCase() as '' | 'K' | 'M' | 'G' | 'T'];
  return Number(m[1]) * 1024 ** power;
}
