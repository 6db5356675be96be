// One reply subscription for the whole gateway (`_INBOX_gateway.<id>.*`), each
// expected reply told apart by the last token of its subject: the processor's
// replies (core NATS and JetStream) and JetStream's publish acknowledgements.
//
// Why not nats.js `request()` / `js.publish()` (issue 23 item 3): each of
// their requests builds a NatsError with a stack trace when it completes
// (RequestOne.cancel, ~10 µs of the gateway's CPU per request under load,
// measured with `perf`) besides its own timer and bookkeeping; here a request
// costs one map entry and one timer. nats.js renews the subscription after a
// reconnect. What a `request()` would report is kept: a 503 status reply
// (no subscriber on the subject: the server answers for it) is NoResponders,
// silence past the timeout is Timeout, with nats.js's error codes.
import { ErrorCode, createInbox, type Msg, type NatsConnection, type Subscription } from 'nats';
import { GATEWAY_INBOX_PREFIX } from './nats-reply.js';

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

export class ReplyInbox {
  readonly #prefix = createInbox(GATEWAY_INBOX_PREFIX);
  readonly #pending = new Map<string, Pending>();
  #sub: Subscription | undefined;
  #next = 0;

  constructor(private readonly nc: NatsConnection) {}

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
    const token = (this.#next++).toString(36);
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

  /** Fails every reply still awaited (Disconnect) and unsubscribes. */
  close(): void {
    this.#sub?.unsubscribe();
    this.#sub = undefined;
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(codedError('gateway closing', ErrorCode.Disconnect));
    }
    this.#pending.clear();
  }
}

function codedError(message: string, code: ErrorCode): Error {
  return Object.assign(new Error(message), { code });
}
