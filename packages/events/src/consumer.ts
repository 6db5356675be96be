// Sealed events from JetStream (docs/events.md): a durable pull consumer
// (shared by every instance of the team's service) whose handler gets each
// event opened; the message is acked after the handler. At least once from
// the stream, once to the handler per event id (receiver.ts):
// - opened and handled (or a redelivery of a handled one): ack;
// - permanent failure (cannot be opened, a replay): dead letter, then ack;
// - transient failure (keys or the id store unavailable, the handler threw):
//   NAK with exponential backoff, dead letter after `maxAttempts` deliveries;
// - a dead letter that could not be stored: NAK, never dropped.
// While the handler runs the delivery is kept alive (`working`), so a slow
// handler is not handed the same event a second time on another instance.
import type { Consumer, ConsumerMessages, JsMsg } from 'nats';
import { Limiter } from './limiter.js';
import { EventReceiver, type Delivery, type ReceiveOptions } from './receiver.js';
import type { EventSubscription } from './subscriber.js';

export interface ConsumeOptions<T> extends ReceiveOptions<T> {
  readonly stream: string;
  /** The durable consumer (created by the team's setup: ack explicit, max_deliver -1 or above maxAttempts). */
  readonly durable: string;
  /** Deliveries before a message that keeps failing transiently is dead-lettered. Default 5. */
  readonly maxAttempts?: number;
  /** First NAK delay, doubling per delivery. Default 500 ms. */
  readonly nakBaseMs?: number;
  /** Largest NAK delay. Default 30 000 ms. */
  readonly nakMaxMs?: number;
}

/** Delay before delivery n+1 after n failed deliveries: base·2^(n-1), capped. */
export function nakDelay(deliveries: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.min(20, Math.max(0, deliveries - 1)));
}

export async function consumeEvents<T>(opts: ConsumeOptions<T>): Promise<EventSubscription> {
  const receiver = new EventReceiver(opts, opts.durable);
  const js = opts.js ?? opts.nc.jetstream();
  const concurrency = opts.concurrency ?? 16;
  const limiter = new Limiter(concurrency);
  const maxAttempts = opts.maxAttempts ?? 5;
  const nakBaseMs = opts.nakBaseMs ?? 500;
  const nakMaxMs = opts.nakMaxMs ?? 30_000;
  const consumer: Consumer = await js.consumers.get(opts.stream, opts.durable);
  const ackWaitMs = ((await consumer.info(true)).config.ack_wait ?? 30e9) / 1e6;
  // Pull no more than we work on at once, so other instances get the rest.
  const messages: ConsumerMessages = await consumer.consume({ max_messages: concurrency, expires: 5000 });

  const onMessage = async (m: JsMsg): Promise<void> => {
    const d: Delivery = {
      subject: m.subject,
      data: m.data,
      headers: m.headers,
      origin: `js:${m.info.stream}:${m.info.streamSequence}`,
      deliveries: m.info.deliveryCount,
    };
    const keepAlive = setInterval(() => m.working(), Math.max(500, ackWaitMs / 2));
    keepAlive.unref();
    let r;
    try {
      r = await receiver.receive(d);
    } finally {
      clearInterval(keepAlive);
    }
    if (r.kind !== 'failed') {
      m.ack();
      return;
    }
    const delay = nakDelay(d.deliveries, nakBaseMs, nakMaxMs);
    if (!r.permanent && d.deliveries < maxAttempts) {
      receiver.stats.retried++;
      receiver.logger.warn({ subject: d.subject, reason: r.reason, origin: d.origin, deliveries: d.deliveries, delayMs: delay, err: r.err }, 'event failed: NAK with delay');
      m.nak(delay);
      return;
    }
    try {
      await receiver.deadLetter(d, r);
    } catch (err) {
      receiver.logger.error({ err, origin: d.origin }, 'dead-letter publish failed; NAK');
      m.nak(delay);
      return;
    }
    m.ack();
  };

  const loop = (async () => {
    for await (const m of messages) {
      await limiter.acquire();
      void onMessage(m)
        .catch((err: unknown) => receiver.logger.error({ err }, 'event handling failed unexpectedly'))
        .finally(() => limiter.release());
    }
  })().catch((err: unknown) => receiver.logger.error({ err }, 'event consumer ended'));

  return {
    stats: receiver.stats,
    scope: receiver.scope,
    async stop() {
      messages.stop();
      await loop;
      await limiter.idle();
    },
  };
}
