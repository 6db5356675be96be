// What every received event goes through, on core NATS and JetStream alike
// (docs/events.md "Receiving"):
//   1. open it (open-event.ts): headers, decode, tenant, envelopes bound to the
//      subject it arrived on and its id — an event that fails here is never
//      handed to the handler and never touches the id store;
//   2. claim its id in the group's store (seen-ids.ts): a replay (same id,
//      another origin) is refused, a redelivery of a handled event is skipped;
//   3. call the team's handler with the plaintext;
//   4. mark the id done. The transport then acks (JetStream), retries, or
//      dead-letters what failed.
import { randomUUID } from 'node:crypto';
import type { JetStreamClient, MsgHdrs, NatsConnection } from 'nats';
import { FieldCipher, SchemaError, type CompiledSchema, type KeyProvider } from '@fle/field-crypto';
import { classifyError, isValidNatsToken, type NonceStore, type ServiceMetrics } from '@fle/service-kit';
import { EventDeadLetters, type DeadLetterOptions } from './dead-letter.js';
import type { EventType } from './event-type.js';
import { isSealedPayload, openEvent } from './open-event.js';
import { claimEventId, DEFAULT_DEDUPE_WINDOW_MS, eventIdKey } from './seen-ids.js';

export interface EventHandlerContext {
  /** The subject the event arrived on (bound into its envelopes). */
  readonly subject: string;
  readonly msgId: string;
  readonly tenant: string;
  readonly typeName: string;
  /** 1 on first delivery; JetStream counts redeliveries. */
  readonly deliveries: number;
}

/** The team's handler: gets the event with its sensitive fields opened. Throwing fails the delivery (retried on JetStream). */
export type EventHandler<T> = (event: T, ctx: EventHandlerContext) => unknown;

/** What this package logs to (a pino Logger fits); never given payloads or plaintext. */
export interface EventLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface ReceiveOptions<T> {
  readonly nc: NatsConnection;
  /** compileSchema(root) of the team's schema. */
  readonly schema: CompiledSchema;
  /** Keys of the events' rings (keystore-client in production). */
  readonly keys: KeyProvider;
  readonly type: EventType<T>;
  readonly handler: EventHandler<T>;
  /** Handled event ids, shared by every instance of the group: openEventIdStore(js), or any @fle/service-kit NonceStore. */
  readonly seen: NonceStore;
  /** How long a handled id is remembered (at most the store's TTL). Default 120 000 ms. */
  readonly dedupeWindowMs?: number;
  /**
   * The group that handles each event once (1-64 of `A-Z a-z 0-9 _ -`).
   * Default: the queue group, the durable consumer's name, or (a core
   * subscription without queue group, where every instance handles every
   * event) one scope per subscription.
   */
  readonly scope?: string;
  /** Handlers running at once. Default 16. */
  readonly concurrency?: number;
  readonly deadLetters?: DeadLetterOptions;
  /** For dead letters (and the JetStream consumer); default `nc.jetstream()`. */
  readonly js?: JetStreamClient;
  readonly logger?: EventLogger;
  /** Counts opens, failures and dead letters into these service metrics. */
  readonly metrics?: Pick<ServiceMetrics, 'opens' | 'failures' | 'deadLetters'>;
}

export interface SubscriptionStats {
  /** Messages taken from NATS (redeliveries included). */
  received: number;
  /** Handed to the handler and completed. */
  handled: number;
  /** Redeliveries of an event already handled: acked, not handed over again. */
  duplicates: number;
  /** Deliveries that failed and will come again (JetStream NAK). */
  retried: number;
  deadLettered: number;
}

/** One delivery of one message. */
export interface Delivery {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: MsgHdrs | undefined;
  /** `js:<stream>:<seq>` (the same for every redelivery) or `core:<uuid>`. */
  readonly origin: string;
  readonly deliveries: number;
}

export type ReceiveResult =
  | { readonly kind: 'handled' }
  | { readonly kind: 'duplicate' }
  | { readonly kind: 'failed'; readonly reason: string; readonly code: string; readonly permanent: boolean; readonly err: unknown };

const silent: EventLogger = { warn: () => undefined, error: () => undefined };

export class EventReceiver<T> {
  readonly stats: SubscriptionStats = { received: 0, handled: 0, duplicates: 0, retried: 0, deadLettered: 0 };
  readonly scope: string;
  readonly logger: EventLogger;
  readonly #o: ReceiveOptions<T>;
  readonly #cipher: FieldCipher;
  readonly #ttlMs: number;
  readonly #deadLetters: EventDeadLetters;

  constructor(opts: ReceiveOptions<T>, defaultScope: string | undefined) {
    this.#o = opts;
    this.#cipher = new FieldCipher({ schema: opts.schema, keys: opts.keys });
    // An unknown type, or one without a tenant field, fails here rather than dead-lettering every event.
    const plan = opts.schema.plan(opts.type.typeName);
    if (plan.tenantProp === undefined) throw new SchemaError(`event type ${plan.typeName} names no tenant field: add option (fle.v1.tenant_field)`);
    this.#ttlMs = opts.dedupeWindowMs ?? DEFAULT_DEDUPE_WINDOW_MS;
    if (!(this.#ttlMs > 0)) throw new RangeError('dedupeWindowMs must be > 0');
    const scope = opts.scope ?? defaultScope ?? `sub-${randomUUID()}`;
    if (!isValidNatsToken(scope)) throw new RangeError('scope (or the queue group / durable name it defaults to) must be 1-64 characters of [A-Za-z0-9_-]');
    this.scope = scope;
    this.logger = opts.logger ?? silent;
    this.#deadLetters = new EventDeadLetters(opts.js ?? opts.nc.jetstream(), opts.deadLetters);
  }

  async receive(d: Delivery): Promise<ReceiveResult> {
    this.stats.received++;
    const { type, seen, handler } = this.#o;
    let opened;
    try {
      opened = await openEvent(this.#cipher, this.#o.schema, type, d.subject, d.data, d.headers);
    } catch (err) {
      return this.#failed(err, false);
    }
    this.#o.metrics?.opens.inc({ type: type.typeName });
    const key = eventIdKey(this.scope, opened.tenant, opened.msgId);
    let claim;
    try {
      claim = await claimEventId(seen, key, d.origin, this.#ttlMs);
    } catch (err) {
      return this.#failed(err, false);
    }
    if (claim === 'done') {
      this.stats.duplicates++;
      return { kind: 'duplicate' };
    }
    try {
      await handler(opened.event, { subject: d.subject, msgId: opened.msgId, tenant: opened.tenant, typeName: type.typeName, deliveries: d.deliveries });
    } catch (err) {
      // Forget the claim: the retry (or a copy re-driven from the dead letters) is not a replay.
      await seen.release(key, d.origin).catch((e: unknown) => this.logger.warn({ err: e, origin: d.origin }, 'could not release event id'));
      return this.#failed(err, true);
    }
    await seen.complete(key, d.origin, this.#ttlMs).catch((e: unknown) => this.logger.warn({ err: e, origin: d.origin }, 'could not mark event id done'));
    this.stats.handled++;
    return { kind: 'handled' };
  }

  #failed(err: unknown, inHandler: boolean): ReceiveResult {
    const c = classifyError(err);
    const reason = inHandler ? 'handler_failed' : c.reason;
    this.#o.metrics?.failures.inc({ reason });
    return { kind: 'failed', reason, code: c.code, permanent: c.permanent, err };
  }

  /** Publishes the dead letter of a failed delivery; throws when the DLQ did not store it. */
  async deadLetter(d: Delivery, failure: Extract<ReceiveResult, { kind: 'failed' }>): Promise<void> {
    const sealed = isSealedPayload(this.#o.schema, this.#o.type, d.data, d.headers);
    const { subject } = await this.#deadLetters.publish({ ...d, reason: failure.reason, code: failure.code, sealed });
    this.stats.deadLettered++;
    this.#o.metrics?.deadLetters.inc({ reason: failure.reason });
    this.logger.warn({ subject: d.subject, deadLetterSubject: subject, reason: failure.reason, code: failure.code, origin: d.origin, size: d.data.byteLength, err: failure.err }, 'event dead-lettered');
  }
}
