// Core NATS request-reply on `fle.rpc.<tenant>.<route>` (a processor queue
// group answers), the reply awaited on the gateway's one reply subscription.
import type { NatsConnection } from 'nats';
import { rpcSubject, type ReplyInbox } from '@fle/service-kit';
import type { ForwardRequest, Forwarder } from './forwarder.js';
import { mapNatsError, processorReply, requestHeaders } from './nats-reply.js';

export class NatsCoreForwarder implements Forwarder {
  constructor(
    private readonly nc: NatsConnection,
    private readonly replies: ReplyInbox,
  ) {}

  async forward(req: ForwardRequest): Promise<Uint8Array> {
    const headers = requestHeaders(req); // BAD_REQUEST as it is
    const reply = this.replies.expect(req.route.timeoutMs, 'processor did not reply in time');
    try {
      this.nc.publish(rpcSubject(req.tenant, req.route.route), req.bytes, { reply: reply.subject, headers });
    } catch (err) {
      this.replies.forget(reply.subject);
      throw mapNatsError(err);
    }
    return processorReply(reply.message);
  }

  async close(): Promise<void> {}
}
