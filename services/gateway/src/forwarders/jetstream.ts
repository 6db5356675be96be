// JetStream: publish to `fle.js.<tenant>.<route>` (stream FLE_REQUESTS) with the
// replay headers, `Nats-Msg-Id` = the request nonce and a reply inbox header,
// then wait on that inbox for the processor's reply. The stream makes the
// request durable (at-least-once): if the wait times out the request is still
// processed, exactly once by nonce.
//
// One reply subscription for the whole gateway (`_INBOX_gateway.<id>.*`), each
// request's inbox told apart by its last token, instead of a subscribe and an
// unsubscribe per request (issue 23 item 3).
import { ErrorCode, createInbox, type JetStreamClient, type Msg, type NatsConnection, type Subscription } from 'nats';
import { ReplayError, jsSubject } from '@fle/service-kit';
import type { ForwardRequest, Forwarder } from './forwarder.js';
import { GATEWAY_INBOX_PREFIX, mapNatsError, mapPublishError, replyBytes, requestHeaders } from './nats-reply.js';

interface Pending {
  resolve(m: Msg): void;
  reject(err: Error): void;
  readonly timer: NodeJS.Timeout;
}

export class JetStreamForwarder implements Forwarder {
  readonly #js: JetStreamClient;
  readonly #inbox = createInbox(GATEWAY_INBOX_PREFIX);
  readonly #pending = new Map<string, Pending>();
  #sub: Subscription | undefined;
  #next = 0;
  constructor(private readonly nc: NatsConnection) {
    this.#js = nc.jetstream();
  }

  /** The reply subscription, made on first use (nats.js renews it after a reconnect). */
  #replies(): void {
    this.#sub ??= this.nc.subscribe(`${this.#inbox}.*`, {
      callback: (err, m) => {
        if (err) return;
        const token = m.subject.slice(this.#inbox.length + 1);
        const p = this.#pending.get(token);
        if (!p) return; // late: the caller already timed out
        this.#pending.delete(token);
        clearTimeout(p.timer);
        p.resolve(m);
      },
    });
  }

  #settle(token: string): void {
    const p = this.#pending.get(token);
    if (!p) return;
    this.#pending.delete(token);
    clearTimeout(p.timer);
  }

  async forward(req: ForwardRequest): Promise<Uint8Array> {
    this.#replies();
    const token = (this.#next++).toString(36);
    const inbox = `${this.#inbox}.${token}`;
    // Waiting before publishing, so a fast reply cannot be missed.
    const reply = new Promise<Msg>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(token);
        reject(Object.assign(new Error('processor did not reply in time'), { code: ErrorCode.Timeout }));
      }, req.route.timeoutMs);
      this.#pending.set(token, { resolve, reject, timer });
    });
    reply.catch(() => undefined); // a timeout while the publish is still waiting is not unhandled
    const h = requestHeaders(req, inbox);
    // Message id = the request nonce: the stream refuses a second copy (docs/replay.md).
    let ack;
    try {
      ack = await this.#js.publish(jsSubject(req.tenant, req.route.route), req.bytes, { headers: h, msgID: req.stamp.nonce, timeout: req.route.timeoutMs });
    } catch (err) {
      this.#settle(token);
      throw mapPublishError(err);
    }
    if (ack.duplicate) {
      this.#settle(token);
      throw new ReplayError('REPLAY_NONCE', 'request nonce already used');
    }
    try {
      return replyBytes(await reply);
    } catch (err) {
      throw mapNatsError(err);
    }
  }

  async close(): Promise<void> {
    this.#sub?.unsubscribe();
    this.#sub = undefined;
    for (const [token, p] of this.#pending) {
      this.#settle(token);
      p.reject(Object.assign(new Error('gateway closing'), { code: ErrorCode.Disconnect }));
    }
  }
}
