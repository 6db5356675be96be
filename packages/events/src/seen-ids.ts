// Once per event id (docs/events.md "Delivery"): the ids a subscriber group
// has handled are kept in a NonceStore of @fle/service-kit (NATS KV by
// default, shared by every instance of the group; Redis and in-memory stores
// fit too), the same stores that keep the processor's request nonces.
//
// A claim records (id, origin) where the origin names one delivery's source:
// `js:<stream>:<seq>` for JetStream (the same for every redelivery of one
// stored message) and a fresh value per core NATS message. The store answers
// `claimed` for a first sight, `resumed` for the same origin again, and throws
// REPLAY_NONCE for another origin: the same sealed event published a second
// time (a replay, or a copy outside JetStream's duplicate window).
import type { JetStreamClient } from 'nats';
import { NatsKvNonceStore, type NonceStore } from '@fle/service-kit';

/** The KV bucket of handled event ids (its max age is the dedupe window). */
export const EVENT_ID_BUCKET = 'fle_event_ids';

/** Default dedupe window: JetStream's default duplicate window. */
export const DEFAULT_DEDUPE_WINDOW_MS = 120_000;

export interface EventIdStoreOptions {
  /** How long a handled id is remembered. Default 120 000 ms. */
  readonly windowMs?: number;
  readonly bucket?: string;
  readonly replicas?: number;
}

/**
 * Binds to (or creates) the KV bucket of handled event ids. An existing bucket
 * keeps the max age it was created with: create it with the window you want.
 */
export async function openEventIdStore(js: JetStreamClient, opts: EventIdStoreOptions = {}): Promise<NonceStore> {
  return NatsKvNonceStore.open(js, {
    bucket: opts.bucket ?? EVENT_ID_BUCKET,
    ttlMs: opts.windowMs ?? DEFAULT_DEDUPE_WINDOW_MS,
    ...(opts.replicas === undefined ? {} : { replicas: opts.replicas }),
  });
}

/** Store key of an event id: per dedupe scope (subscriber group) and tenant. */
export function eventIdKey(scope: string, tenant: string, msgId: string): string {
  return `evt.${scope}.${tenant}.${msgId}`;
}

/**
 * - `first`: never seen; handle it.
 * - `unfinished`: this very delivery source was seen but its handling never
 *   completed (the instance died, the handler failed): handle it again.
 * - `done`: handled already (a redelivery after a lost ack): do not.
 * Throws REPLAY_NONCE when the id was claimed from another origin.
 */
export type EventClaim = 'first' | 'unfinished' | 'done';

export async function claimEventId(store: NonceStore, key: string, origin: string, ttlMs: number): Promise<EventClaim> {
  if ((await store.claim(key, origin, ttlMs)) === 'claimed') return 'first';
  // Same origin again. The store does not say whether that claim completed,
  // but release() drops only an in-progress claim of this origin: claiming
  // once more tells the two apart (a completed one is still there).
  await store.release(key, origin);
  return (await store.claim(key, origin, ttlMs)) === 'claimed' ? 'unfinished' : 'done';
}
