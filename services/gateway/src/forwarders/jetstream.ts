// JetStream: publish to `fle.js.<tenant>.<route>` (stream FLE_REQUESTS) with the
// replay headers and a reply inbox header, then wait on that inbox for the
// processor's reply. The stream makes the request durable (at-least-once): if
// the wait times out the request is still processed, exactly once by nonce.
import { createInbox, type JetStreamClient, type NatsConnection } from 'nats';
import { FLE_HEADERS, ReplayError, jsSubject } from '@fle/service-kit';
import type { ForwardRequest, Forwarder } from './forwarder.js';
import { GATEWAY_INBOX_PREFIX, mapNatsError, mapPublishError, replyBytes, requestHeaders } from './nats-reply.js';

export class JetStreamForwarder implements Forwarder {
  readonly #js: JetStreamClient;
  constructor(private readonly nc: NatsConnection) {
    this.#js = nc.jetstream();
  }

  async forward(req: ForwardRequest): Promise<Uint8Array> {
    const inbox = createInbox(GATEWAY_INBOX_PREFIX);
    // Subscribe before publishing so a fast reply cannot be missed.
    const sub = this.nc.subscribe(inbox, { max: 1, timeout: req.route.timeoutMs });
    try {
      const h = requestHeaders(req);
      h.set(FLE_HEADERS.replyTo, inbox);
      // Message id = the request nonce: the stream refuses a second copy (docs/replay.md).
      let ack;
      try {
        ack = await this.#js.publish(jsSubject(req.tenant, req.route.route), req.bytes, { headers: h, msgID: req.stamp.nonce, timeout: req.route.timeoutMs });
      } catch (err) {
        throw mapPublishError(err);
      }
      if (ack.duplicate) throw new ReplayError('REPLAY_NONCE', 'request nonce already used');
      try {
        for await (const m of sub) return replyBytes(m);
      } catch (err) {
        throw mapNatsError(err);
      }
      throw mapNatsError(Object.assign(new Error('reply subscription closed'), { code: 'TIMEOUT' }));
    } finally {
      sub.unsubscribe();
    }
  }

  async close(): Promise<void> {}
}
