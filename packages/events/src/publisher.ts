// Publishing sealed events (docs/events.md). The API takes the event as the
// team's typed message and its type, never bytes: every publish seals the
// event's sensitive fields for its tenant first, so plaintext where the schema
// says sealed cannot be published through it.
import { headers as natsHeaders, type JetStreamClient, type JetStreamPublishOptions, type MsgHdrs, type NatsConnection, type PubAck } from 'nats';
import { FieldCipher, readTenant, SchemaError, type CompiledSchema, type KeyProvider } from '@fle/field-crypto';
import { assertTenantToken, RoutingError } from '@fle/service-kit';
import { assertPublishSubject, EVENT_HEADERS, eventContext, isValidMsgId, newMsgId } from './binding.js';
import { encodeEvent, type EventType } from './event-type.js';

export interface EventPublisherOptions {
  readonly nc: NatsConnection;
  /** compileSchema(root) of the team's schema (the one declaring the event types). */
  readonly schema: CompiledSchema;
  /** Keys of the events' rings for their tenants (keystore-client in production). */
  readonly keys: KeyProvider;
  /** For publishToStream; default `nc.jetstream()`. */
  readonly js?: JetStreamClient;
}

export interface PublishOptions {
  /**
   * The event's id (1-128 of `A-Z a-z 0-9 _ -`); default 16 random bytes.
   * Give the same id when publishing the same business event again (a retry):
   * JetStream stores it once within its duplicate window, and subscribers
   * hand it to their handler once within theirs.
   */
  readonly msgId?: string;
}

export interface StreamPublishOptions extends PublishOptions {
  /** Refuse unless the subject is captured by this stream. */
  readonly expectStream?: string;
  /** Wait this long for the stream's ack. Default: the JetStream client's (5 s). */
  readonly timeoutMs?: number;
}

export interface PublishedEvent {
  readonly subject: string;
  readonly msgId: string;
  readonly tenant: string;
}

export interface StoredEvent extends PublishedEvent {
  readonly stream: string;
  readonly seq: number;
  /** True when the stream already had an event with this id (within its duplicate window): not stored again. */
  readonly duplicate: boolean;
}

interface Prepared {
  readonly msgId: string;
  readonly tenant: string;
  readonly bytes: Uint8Array;
  readonly headers: MsgHdrs;
}

export class EventPublisher {
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient | undefined;
  readonly #schema: CompiledSchema;
  readonly #cipher: FieldCipher;

  constructor(opts: EventPublisherOptions) {
    this.#nc = opts.nc;
    this.#js = opts.js;
    this.#schema = opts.schema;
    this.#cipher = new FieldCipher({ schema: opts.schema, keys: opts.keys });
  }

  /** Seals `event` and publishes it on core NATS (at most once: nothing is stored). */
  async publish<T>(type: EventType<T>, subject: string, event: T, opts: PublishOptions = {}): Promise<PublishedEvent> {
    const p = await this.#prepare(type, subject, event, opts);
    this.#nc.publish(subject, p.bytes, { headers: p.headers });
    return { subject, msgId: p.msgId, tenant: p.tenant };
  }

  /** Seals `event` and publishes it to the JetStream stream that captures `subject`; resolves with the stream's ack. */
  async publishToStream<T>(type: EventType<T>, subject: string, event: T, opts: StreamPublishOptions = {}): Promise<StoredEvent> {
    const p = await this.#prepare(type, subject, event, opts);
    const js = this.#js ?? this.#nc.jetstream();
    const pubOpts: Partial<JetStreamPublishOptions> = { headers: p.headers };
    if (opts.expectStream !== undefined) pubOpts.expect = { streamName: opts.expectStream };
    if (opts.timeoutMs !== undefined) pubOpts.timeout = opts.timeoutMs;
    let ack: PubAck;
    try {
      ack = await js.publish(subject, p.bytes, pubOpts);
    } catch (err) {
      throw new RoutingError('UPSTREAM_UNAVAILABLE', 'JetStream did not store the event', { cause: err });
    }
    return { subject, msgId: p.msgId, tenant: p.tenant, stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
  }

  async #prepare<T>(type: EventType<T>, subject: string, event: T, opts: PublishOptions): Promise<Prepared> {
    assertPublishSubject(subject);
    const msgId = opts.msgId ?? newMsgId();
    if (!isValidMsgId(msgId)) throw new RoutingError('BAD_REQUEST', 'msgId must be 1-128 characters of [A-Za-z0-9_-]');
    const plan = this.#schema.plan(type.typeName);
    if (plan.tenantProp === undefined) {
      throw new SchemaError(`event type ${plan.typeName} names no tenant field: add option (fle.v1.tenant_field)`);
    }
    const tenant = assertTenantToken(readTenant(this.#schema, type.typeName, event));
    const sealed = await this.#cipher.sealMessage(type.typeName, event, { context: eventContext(subject, msgId) });
    const bytes = encodeEvent(type.codec, sealed);
    const h = natsHeaders();
    h.set(EVENT_HEADERS.msgId, msgId);
    h.set(EVENT_HEADERS.type, plan.typeName);
    h.set(EVENT_HEADERS.tenant, tenant);
    return { msgId, tenant, bytes, headers: h };
  }
}
