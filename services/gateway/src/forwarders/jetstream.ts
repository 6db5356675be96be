// JetStream: publish to `fle.js.<tenant>.<route>` (stream FLE_REQUESTS) with the
// replay headers, `Nats-Msg-Id` = the request nonce and a reply inbox header,
// then wait on that inbox for the processor's reply. The stream makes the
// request durable (at-least-once): if the wait times out the request is still
// processed, exactly once by nonce.
//
// The stream's acknowledgement and the processor's reply both come to the
// gateway's one reply subscription (@fle/service-kit ReplyInbox), told apart
// by their last token, rather than a subscribe and an unsubscribe per request
// or a nats.js request per acknowledgement (issue 23 item 3).
import { ReplayError, jsSubject, type ReplyInbox } from '@fle/service-kit';
import type { ForwardRequest, Forwarder } from './forwarder.js';
import { mapPublishError, processorReply, requestHeaders } from './nats-reply.js';

export class JetStreamForwarder implements Forwarder {
  constructor(private readonly replies: ReplyInbox) {}

  async forward(req: ForwardRequest): Promise<Uint8Array> {
    const timeoutMs = req.route.timeoutMs;
    const reply = this.replies.expect(timeoutMs, 'processor did not reply in time');
    let headers;
    try {
      // Message id = the request nonce: the stream refuses a second copy (docs/replay.md).
      headers = requestHeaders(req, reply.subject, req.stamp.nonce);
    } catch (err) {
      this.replies.forget(reply.subject);
      throw err; // BAD_REQUEST as it is
    }
    let ack;
    try {
      ack = await this.replies.publishForAck(jsSubject(req.tenant, req.route.route), req.bytes, headers, timeoutMs, 'JetStream did not acknowledge the request in time');
    } catch (err) {
      this.replies.forget(reply.subject);
      throw mapPublishError(err);
    }
    if (ack.duplicate) {
      this.replies.forget(reply.subject);
      throw new ReplayError('REPLAY_NONCE', 'request nonce already used');
    }
    return processorReply(reply.message);
  }

  async close(): Promise<void> {}
}
