// Core NATS request-reply on `fle.rpc.<tenant>.<route>` (a processor queue group answers).
import type { NatsConnection } from 'nats';
import { rpcSubject } from '@fle/service-kit';
import type { ForwardRequest, Forwarder } from './forwarder.js';
import { mapNatsError, replyBytes, requestHeaders } from './nats-reply.js';

export class NatsCoreForwarder implements Forwarder {
  constructor(private readonly nc: NatsConnection) {}

  async forward(req: ForwardRequest): Promise<Uint8Array> {
    let reply;
    try {
      reply = await this.nc.request(rpcSubject(req.tenant, req.route.route), req.bytes, {
        timeout: req.route.timeoutMs,
        headers: requestHeaders(req),
      });
    } catch (err) {
      throw mapNatsError(err);
    }
    return replyBytes(reply);
  }

  async close(): Promise<void> {}
}
