// JetStream: publish to `fle.js.<tenant>.<route>` (stream FLE_REQUESTS) with the
// replay headers, `Nats-Msg-Id` = the request nonce and a reply inbox header,
// then wait on that inbox for the processor's reply. The stream makes the
// request durable (at-least-once): if the wait times out the request is still
// processed, exactly once by nonce.
//
// The stream's acknowledgement and the processor's reply both come to the
// gateway's one reply subscription (reply-inbox.ts), told apart by their last
// token, rather than a subscribe and an unsubscribe per request or a nats.js
// request per acknowledgement (issue 23 item 3).
import { JSONCodec, type NatsConnection } from 'nats';
import { ReplayError, jsSubject } from '@fle/service-kit';
import type { ForwardRequest, Forwarder } from './forwarder.js';
import { mapPublishError, processorReply, requestHeaders } from './nats-reply.js';
import type { ReplyInbox } from './reply-inbox.js';

/** JetStream's answer to a publish (nats-server's JSPubAckResponse). */
interface PubAck {
  readonly stream?: string;
  readonly seq?: number;
  readonly duplicate?: boolean;
  readonly error?: { readonly code?: number; readonly err_code?: number; readonly description?: string };
}

const pubAcks = JSONCodec<PubAck>();

export class JetStreamForwarder implements Forwarder {
  constructor(
    private readonly nc: NatsConnection,
    private readonly replies: ReplyInbox,
  ) {}

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
    const ack = this.replies.expect(timeoutMs, 'JetStream did not acknowledge the request in time');
    try {
      this.nc.publish(jsSubject(req.tenant, req.route.route), req.bytes, { reply: ack.subject, headers });
      checkAck(await ack.message.then((m) => pubAcks.decode(m.data)));
    } catch (err) {
      this.replies.forget(ack.subject);
      this.replies.forget(reply.subject);
      throw err instanceof ReplayError ? err : mapPublishError(err);
    }
    return processorReply(reply.message);
  }

  async close(): Promise<void> {}
}

/**
 * Throws unless JetStream stored the request: its API error (with `api_error`
 * as nats.js reports it: a full stream is told apart by its code), an answer
 * naming no stream, or REPLAY_NONCE when the stream already holds this nonce.
 */
function checkAck(ack: PubAck): void {
  if (ack.error) throw Object.assign(new Error(ack.error.description ?? 'JetStream refused the request'), { code: String(ack.error.code ?? ''), api_error: ack.error });
  if (!ack.stream) throw new Error('JetStream answered without naming a stream');
  if (ack.duplicate === true) throw new ReplayError('REPLAY_NONCE', 'request nonce already used');
}
