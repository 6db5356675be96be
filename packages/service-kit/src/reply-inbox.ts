// One reply subscription per connection (`<inbox prefix>.<id>.*`), each
// expected reply told apart by the last token of its subject: requests, and
// JetStream publishes acknowledged, through it.
//
// Why not nats.js `request()` / `js.publish()` on fle's per-request paths
// (issue 23 item 3): each of their requests builds a NatsError with a stack
// trace when it completes (RequestOne.cancel: ~10 µs of a process's CPU per
// request under the e2e load, measured with `perf`), besides a timer and a
// map entry of their own; here an expected reply costs a map entry and a
// timer. nats.js renews the subscription after a reconnect. What a
// `request()` reports is kept: a 503 status reply (the server answers it
// when nothing subscribes to the subject) is NoResponders, silence past the
// timeout is Timeout, with nats.js's error codes; a JetStream API error
// carries `api_error` as nats.js's does (STORE_FULL and revision conflicts
// are told apart by its code).
import { ErrorCode, JSONCodec, createInbox, nuid, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from 'nats';

/** The status the server sends to a request's reply subject when nothing subscribes to its subject. */
const NO_RESPONDERS_STATUS = 503;

interface Pending {
  resolve(m: Msg): void;
  reject(err: Error): void;
  readonly timer: NodeJS.Timeout;
}

/** A reply subject and the promise of the one message sent to it. */
export interface ExpectedReply {
  readonly subject: string;
  /** The reply; rejects with code ErrorCode.Timeout after the timeout, ErrorCode.NoResponders on a 503 status. */
  readonly message: Promise<Msg>;
}

/** JetStream's answer to a publish (nats-server's JSPubAckResponse). */
export interface PubAck {
  readonly stream: string;
  readonly seq: number;
  readonly duplicate: boolean;
}

interface PubAckResponse {
  readonly stream?: string;
  readonly seq?: number;
  readonly duplicate?: boolean;
  readonly error?: { readonly code?: number; readonly err_code?: number; readonly description?: string };
}

const pubAcks = JSONCodec<PubAckResponse>();

export class ReplyInbox {
  readonly #prefix: string;
  readonly #pending = new Map<string, Pending>();
  #sub: Subscription | undefined;

  /** Replies arrive under the connection's inbox prefix (fleConnectionOptions: `_INBOX_<identity>`), which its NATS user may read. */
  constructor(private readonly nc: NatsConnection) {
    this.#prefix = createInbox(inboxPrefixOf(nc));
  }

  /** Subscribes on first use. */
  #subscribe(): void {
    this.#sub ??= this.nc.subscribe(`${this.#prefix}.*`, {
      callback: (err, m) => {
        if (err) return;
        const token = m.subject.slice(this.#prefix.length + 1);
        const p = this.#pending.get(token);
        if (!p) return; // late: the caller already timed out or gave up
        this.#pending.delete(token);
        clearTimeout(p.timer);
        if (m.data.length === 0 && m.headers?.code === NO_RESPONDERS_STATUS) p.reject(codedError('no responders', ErrorCode.NoResponders));
        else p.resolve(m);
      },
    });
  }

  /**
   * A fresh reply subject, waited on from now (a fast reply cannot be missed):
   * publish with it as the reply, then await `message`, or call `forget` when
   * the publish failed. `timeoutMessage` is the error's message on a timeout.
   */
  expect(timeoutMs: number, timeoutMessage: string): ExpectedReply {
    this.#subscribe();
    // Unpredictable, as nats.js's own request tokens: another identity allowed to
    // publish to this inbox (a processor, answering its own requests) cannot aim
    // a reply or an acknowledgement at a request it was never sent.
    const token = nuid.next();
    const message = new Promise<Msg>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(token);
        reject(codedError(timeoutMessage, ErrorCode.Timeout));
      }, timeoutMs);
      this.#pending.set(token, { resolve, reject, timer });
    });
    message.catch(() => undefined); // a reply given up on (forget, close) is not an unhandled rejection
    return { subject: `${this.#prefix}.${token}`, message };
  }

  /** Stops waiting for the reply to `subject` (its promise stays pending). */
  forget(subject: string): void {
    const token = subject.slice(this.#prefix.length + 1);
    const p = this.#pending.get(token);
    if (!p) return;
    this.#pending.delete(token);
    clearTimeout(p.timer);
  }

  /**
   * `nc.request` through the inbox: publishes `data` to `subject` with
   * `headers` and this inbox as the reply subject, and resolves with the one
   * reply (rejects as `expect` says, or with what the publish threw).
   */
  async request(subject: string, data: Uint8Array, headers: MsgHdrs, timeoutMs: number, timeoutMessage: string): Promise<Msg> {
    const reply = this.expect(timeoutMs, timeoutMessage);
    try {
      this.nc.publish(subject, data, { reply: reply.subject, headers });
    } catch (err) {
      this.forget(reply.subject);
      throw err;
    }
    return reply.message;
  }

  /**
   * `js.publish` through the inbox: publishes and waits for JetStream's
   * acknowledgement. Throws what nats.js would: an Error with `api_error`
   * for a JetStream API error (a full stream, a wrong expected sequence:
   * 10071), code NoResponders when no stream takes the subject, Timeout when
   * no answer comes within `timeoutMs`.
   */
  async publishForAck(subject: string, data: Uint8Array, headers: MsgHdrs, timeoutMs: number, timeoutMessage = 'JetStream did not acknowledge in time'): Promise<PubAck> {
    const r = pubAcks.decode((await this.request(subject, data, headers, timeoutMs, timeoutMessage)).data);
    if (r.error) throw Object.assign(new Error(r.error.description ?? 'JetStream refused the message'), { code: String(r.error.code ?? ''), api_error: r.error });
    if (!r.stream) throw new Error('JetStream answered without naming a stream');
    return { stream: r.stream, seq: r.seq ?? 0, duplicate: r.duplicate === true };
  }

  /** Fails every reply still awaited (Disconnect) and unsubscribes. */
  close(): void {
    this.#sub?.unsubscribe();
    this.#sub = undefined;
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(codedError('connection closing', ErrorCode.Disconnect));
    }
    this.#pending.clear();
  }
}

/** The connection's `inboxPrefix` option (nats.js keeps its options on the connection; `_INBOX` by default). */
function inboxPrefixOf(nc: NatsConnection): string {
  return (nc as NatsConnection & { options?: { inboxPrefix?: string } }).options?.inboxPrefix || '_INBOX';
}

function codedError(message: string, code: ErrorCode): Error {
  return Object.assign(new Error(message), { code });
}
