// Core NATS request-reply on `fle.rpc.<tenant>.<route>` (a processor queue
// group answers), the reply awaited on the gateway's one reply subscription.
import { rpcSubject, type ReplyInbox } from '@fle/service-kit';
import type { ForwardRequest, Forwarder } from './forwarder.js';
import { processorReply, requestHeaders } from './nats-reply.js';

export class NatsCoreForwarder implements Forwarder {
  constructor(private readonly replies: ReplyInbox) {}

  async forward(req: ForwardRequest): Promise<Uint8Array> {
    const headers = requestHeaders(req); // BAD_REQUEST as it is
    return processorReply(this.replies.request(rpcSubject(req.tenant, req.route.route), req.bytes, headers, req.route.timeoutMs, 'processor did not reply in time'));
  }

  async close(): Promise<void> {}
}
