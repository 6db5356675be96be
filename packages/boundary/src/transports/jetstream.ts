// JetStream: a durable pull consumer on FLE_REQUESTS, shared by every processor
// instance (at-least-once). A message is acked only after its reply is sent and
// its side effects are done. Failure policy (DESIGN.md):
// - permanent (bad envelope, wrong AAD, replay, bad protobuf, unknown method):
//   typed error reply, publish to FLE_DLQ with the reason, then ack;
// - transient (keystore / store unavailable): NAK with exponential backoff, no
//   reply (the gateway keeps waiting; a later delivery may still answer);
//   after `maxAttempts` deliveries it is dead-lettered like a permanent failure.
// Replays: the stream deduplicates on Nats-Msg-Id, which the guard checks is
// the request nonce (docs/replay.md); a message without an id is claimed in the
// nonce store with the stream sequence as origin, so its redelivery is resumed,
// not refused as a replay.
import type { Consumer, ConsumerMessages, JetStreamClient, JsMsg, NatsConnection } from 'nats';
import { FLE_HEADERS, STREAM_NAMES, classifyError, natsHeaderValue, parseRequestSubject, stampFromHeaders, streamDelivery, type Logger, type ServiceMetrics } from '@fle/service-kit';
import type { Limiter } from '../concurrency.js';
import type { DeadLetterPublisher } from '../dead-letter.js';
import type { Pipeline } from '../pipeline.js';
import { ConsumerWatchdog, natsConsumerOps, type WatchdogTiming } from './consumer-watchdog.js';
import { errorReply, isInbox } from './reply.js';

export interface JetStreamTransportOptions {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly durable: string;
  readonly pipeline: Pipeline;
  readonly limiter: Limiter;
  readonly deadLetters: DeadLetterPublisher;
  readonly maxAttempts: number;
  readonly nakBaseMs: number;
  readonly nakMaxMs: number;
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
  /** Consumer watchdog timing (issue 16; defaults in consumer-watchdog.ts). */
  readonly watchdog?: Partial<WatchdogTiming>;
}

/** Delay before delivery n+1 after n failed deliveries: base·2^(n-1), capped. */
export function nakDelay(deliveries: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.min(20, Math.max(0, deliveries - 1)));
}

export class JetStreamTransport {
  #messages: ConsumerMessages | undefined;
  #loop: Promise<void> | undefined;
  #watchdog: ConsumerWatchdog | undefined;
  constructor(private readonly o: JetStreamTransportOptions) {}

  async start(): Promise<void> {
    const consumer = await this.#subscribe();
    // Recover without an operator when the durable stalls or loses its leader (issue 16).
    const ops = await natsConsumerOps({ nc: this.o.nc, stream: STREAM_NAMES.requests, durable: this.o.durable, resubscribe: async () => void (await this.#subscribe()), requestTimeoutMs: this.o.watchdog?.requestTimeoutMs });
    this.#watchdog = new ConsumerWatchdog({ stream: STREAM_NAMES.requests, durable: this.o.durable, ops, logger: this.o.logger, registry: this.o.metrics.registry, nakMaxMs: this.o.nakMaxMs, timing: this.o.watchdog });
    this.#watchdog.seed(await consumer.info(true));
    this.#watchdog.start();
  }

  /** A fresh handle on the durable and a new pull subscription, replacing the previous one. */
  async #subscribe(): Promise<Consumer> {
    const consumer: Consumer = await this.o.js.consumers.get(STREAM_NAMES.requests, this.o.durable);
    // Pull no more than we can work on, so other instances get the rest.
    // Short-lived pulls (5 s, heartbeats every 2.5 s): a pull parked on a NATS
    // node that dies is noticed and re-issued to the new consumer leader within
    // seconds, not after nats.js's default 30 s (issue 6 cluster drill).
    const messages = await consumer.consume({ max_messages: Math.max(1, this.o.limiter.limit), expires: 5000 });
    this.#messages?.stop();
    this.#messages = messages;
    this.#loop = (async () => {
      // Take the next message only when a slot is free: with max_messages this
      // bounds what one instance holds, and the rest stays for other instances.
      for await (const m of messages) await this.o.limiter.startWhenFree(() => this.#onMessage(m));
    })()
      .catch((err: unknown) => this.o.logger.error({ err }, 'JetStream consume loop ended'))
      .finally(() => {
        if (this.#messages === messages) this.#watchdog?.subscriptionEnded();
      });
    return consumer;
  }

  async #onMessage(m: JsMsg): Promise<void> {
    const started = performance.now();
    const subject = parseRequestSubject(m.subject);
    const origin = `js:${m.info.stream}:${m.info.streamSequence}`;
    const deliveries = m.info.redeliveryCount;
    const replyTo = natsHeaderValue(m.headers, FLE_HEADERS.replyTo);
    const labels = { route: subject?.route ?? '_unknown', transport: 'jetstream' };
    try {
      const handled = await this.o.pipeline.handle({
        transport: 'jetstream',
        path: natsHeaderValue(m.headers, FLE_HEADERS.method) || undefined,
        subjectTenant: subject?.tenant,
        subjectRoute: subject?.route,
        bytes: m.data,
        stamp: stampFromHeaders(m.headers),
        origin,
        caller: natsHeaderValue(m.headers, FLE_HEADERS.caller) || undefined,
        stream: streamDelivery(m),
      });
      if (isInbox(replyTo)) this.o.nc.publish(replyTo, handled.bytes);
      // Not ackAck: waiting for the server to confirm cost ~120 µs of CPU per request (issue 23);
      // a lost ack is a redelivery, answered from the stored effect (docs/replay.md).
      m.ack();
      await handled.claim.complete().catch((e: unknown) => this.o.logger.warn({ err: e, origin }, 'could not mark nonce done'));
      this.o.metrics.requests.inc({ ...labels, outcome: 'ok' });
      this.o.logger.info({ transport: 'jetstream', tenant: handled.tenant, route: handled.route, origin, deliveries, size: m.data.byteLength, ms: Math.round(performance.now() - started) }, 'request handled');
    } catch (err) {
      const c = classifyError(err);
      this.o.metrics.failures.inc({ reason: c.reason });
      if (!c.permanent && deliveries < this.o.maxAttempts) {
        const delay = nakDelay(deliveries, this.o.nakBaseMs, this.o.nakMaxMs);
        m.nak(delay);
        this.o.metrics.requests.inc({ ...labels, outcome: 'retry' });
        this.o.logger.warn({ transport: 'jetstream', tenant: subject?.tenant, route: subject?.route, origin, deliveries, delayMs: delay, err }, 'transient failure: NAK with delay');
        return;
      }
      this.o.metrics.requests.inc({ ...labels, outcome: 'error' });
      this.o.logger.warn({ transport: 'jetstream', tenant: subject?.tenant, route: subject?.route, origin, deliveries, err }, 'request failed');
      if (isInbox(replyTo)) {
        const reply = errorReply(err);
        this.o.nc.publish(replyTo, reply.data, { headers: reply.headers });
      }
      try {
        await this.o.deadLetters.publish({ subject: m.subject, tenant: subject?.tenant, route: subject?.route, bytes: m.data, headers: m.headers, origin, error: err });
      } catch (dlqErr) {
        // The DLQ did not take it: never drop — redeliver later instead of acking.
        this.o.logger.error({ err: dlqErr, origin }, 'dead-letter publish failed; NAK');
        m.nak(nakDelay(deliveries, this.o.nakBaseMs, this.o.nakMaxMs));
        return;
      }
      await m.ackAck().catch((e: unknown) => this.o.logger.warn({ err: e, origin }, 'ack after dead-letter failed'));
    } finally {
      this.o.metrics.requestSeconds.observe(labels, (performance.now() - started) / 1000);
    }
  }

  async stop(): Promise<void> {
    await this.#watchdog?.stop();
    const messages = this.#messages;
    this.#messages = undefined;
    messages?.stop();
    await this.#loop;
  }
}
