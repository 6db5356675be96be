// Sealed events on core NATS (docs/events.md): a subscription, in a queue
// group or not, whose handler gets each event opened. Core NATS delivers at
// most once and never again, so anything that fails (cannot be opened, a
// replay, the handler threw, keys unavailable) is dead-lettered with its reason.
import { randomUUID } from 'node:crypto';
import type { Msg, Subscription } from 'nats';
import { Limiter } from './limiter.js';
import { EventReceiver, type Delivery, type ReceiveOptions, type SubscriptionStats } from './receiver.js';

export interface SubscribeOptions<T> extends ReceiveOptions<T> {
  /** Subject or wildcard pattern, e.g. `team.events.*.admitted`. */
  readonly subject: string;
  /** Queue group: each event goes to one member (and the group's dedupe scope is its name). */
  readonly queue?: string;
}

export interface EventSubscription {
  /** Counts since the start (read-only view). */
  readonly stats: Readonly<SubscriptionStats>;
  /** The dedupe scope in use. */
  readonly scope: string;
  /** Stops taking messages and waits for the handlers running. */
  stop(): Promise<void>;
}

export function subscribeEvents<T>(opts: SubscribeOptions<T>): EventSubscription {
  const receiver = new EventReceiver(opts, opts.queue);
  const limiter = new Limiter(opts.concurrency ?? 16);
  const sub: Subscription = opts.nc.subscribe(opts.subject, opts.queue === undefined ? {} : { queue: opts.queue });

  const onMessage = async (m: Msg): Promise<void> => {
    const d: Delivery = { subject: m.subject, data: m.data, headers: m.headers, origin: `core:${randomUUID()}`, deliveries: 1 };
    const r = await receiver.receive(d);
    if (r.kind !== 'failed') return;
    try {
      await receiver.deadLetter(d, r);
    } catch (err) {
      // Nothing else can hold it: core NATS will not deliver it again.
      receiver.logger.error({ err, subject: d.subject, reason: r.reason, origin: d.origin }, 'event lost: dead-letter publish failed');
    }
  };

  const loop = (async () => {
    for await (const m of sub) {
      await limiter.acquire();
      void onMessage(m)
        .catch((err: unknown) => receiver.logger.error({ err }, 'event handling failed unexpectedly'))
        .finally(() => limiter.release());
    }
  })().catch((err: unknown) => receiver.logger.error({ err }, 'event subscription ended'));

  return {
    stats: receiver.stats,
    scope: receiver.scope,
    async stop() {
      sub.unsubscribe();
      await loop;
      await limiter.idle();
    },
  };
}
