// Core NATS: a queue group on `fle.rpc.*.<route>` for every route; request-reply
// (optionally as endpoints of a NATS service: nats.js services.add).
// Not durable: a permanent failure is answered with the typed error AND
// dead-lettered; a transient one is answered UNAVAILABLE (the caller retries).
import { randomUUID } from 'node:crypto';
import type { Msg, NatsConnection, Service, Subscription } from 'nats';
import { FLE_HEADERS, RoutingError, SUBJECT_PREFIX, classifyError, natsHeaderValue, parseRequestSubject, stampFromHeaders, type Logger, type ServiceMetrics } from '@fle/service-kit';
import type { Limiter } from '../concurrency.js';
import type { DeadLetterPublisher } from '../dead-letter.js';
import type { Pipeline } from '../pipeline.js';
import { errorReply } from './reply.js';

export interface CoreNatsTransportOptions {
  readonly nc: NatsConnection;
  readonly pipeline: Pipeline;
  readonly queueGroup: string;
  readonly limiter: Limiter;
  readonly deadLetters: DeadLetterPublisher;
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
  /** Serve through the NATS service API (discovery and stats), as this service; plain queue subscriptions otherwise. */
  readonly service?: { readonly name: string; readonly version: string; readonly description?: string };
}

export class CoreNatsTransport {
  readonly #subs: Subscription[] = [];
  #service: Service | undefined;
  constructor(private readonly o: CoreNatsTransportOptions) {}

  /** Takes a request: runs it when a slot is free, else answers OVERLOADED at once. */
  #accept(msg: Msg): void {
    const accepted = this.o.limiter.run(() => this.#onMessage(msg));
    if (!accepted) {
      const r = errorReply(new RoutingError('OVERLOADED', 'processor overloaded'));
      msg.respond(r.data, { headers: r.headers });
    }
  }

  async start(): Promise<void> {
    if (this.o.service) {
      // The NATS service API (nats.js services.add): the same queue-group
      // subscriptions as endpoints, plus discovery and stats on $SRV.PING|INFO|STATS.
      const srv = await this.o.nc.services.add({ name: this.o.service.name, version: this.o.service.version, description: this.o.service.description, queue: this.o.queueGroup });
      for (const method of this.o.pipeline.methods) {
        srv.addEndpoint(method.route, { subject: `${SUBJECT_PREFIX.rpc}.*.${method.route}`, metadata: { method: method.path }, handler: (_err, msg) => this.#accept(msg as unknown as Msg) });
      }
      this.#service = srv;
      return;
    }
    for (const method of this.o.pipeline.methods) {
      const sub = this.o.nc.subscribe(`${SUBJECT_PREFIX.rpc}.*.${method.route}`, {
        queue: this.o.queueGroup,
        callback: (err, msg) => {
          if (err) {
            this.o.logger.error({ err }, 'core subscription error');
            return;
          }
          this.#accept(msg);
        },
      });
      this.#subs.push(sub);
    }
  }

  async #onMessage(msg: Msg): Promise<void> {
    const started = performance.now();
    const subject = parseRequestSubject(msg.subject);
    const origin = `core:${randomUUID()}`;
    const labels = { route: subject?.route ?? '_unknown', transport: 'nats' };
    try {
      const handled = await this.o.pipeline.handle({
        transport: 'nats',
        path: natsHeaderValue(msg.headers, FLE_HEADERS.method) || undefined,
        subjectTenant: subject?.tenant,
        subjectRoute: subject?.route,
        bytes: msg.data,
        stamp: stampFromHeaders(msg.headers),
        origin,
        caller: natsHeaderValue(msg.headers, FLE_HEADERS.caller) || undefined,
      });
      msg.respond(handled.bytes);
      await handled.claim.complete().catch((e: unknown) => this.o.logger.warn({ err: e, origin }, 'could not mark nonce done'));
      this.o.metrics.requests.inc({ ...labels, outcome: 'ok' });
      this.o.logger.info({ transport: 'nats', tenant: handled.tenant, route: handled.route, size: msg.data.byteLength, ms: Math.round(performance.now() - started) }, 'request handled');
    } catch (err) {
      const c = classifyError(err);
      this.o.metrics.requests.inc({ ...labels, outcome: 'error' });
      this.o.metrics.failures.inc({ reason: c.reason });
      this.o.logger.warn({ transport: 'nats', tenant: subject?.tenant, route: subject?.route, err, size: msg.data.byteLength }, 'request failed');
      const reply = errorReply(err);
      if (msg.reply) msg.respond(reply.data, { headers: reply.headers });
      if (c.permanent) {
        await this.o.deadLetters
          .publish({ subject: msg.subject, tenant: subject?.tenant, route: subject?.route, bytes: msg.data, headers: msg.headers, origin, error: err })
          .catch((e: unknown) => this.o.logger.error({ err: e, origin }, 'dead-letter publish failed'));
      }
    } finally {
      this.o.metrics.requestSeconds.observe(labels, (performance.now() - started) / 1000);
    }
  }

  async stop(): Promise<void> {
    for (const s of this.#subs) s.unsubscribe();
    await this.#service?.stop().catch(() => undefined);
  }
}
