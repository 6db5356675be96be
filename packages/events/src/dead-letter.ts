// Dead letters of sealed events (DESIGN.md "Failure policy"; docs/events.md
// "Dead letters"): an event that cannot be handled is published, with its
// reason, to `fle.dlq.<tenant>.<route>` (captured by the FLE_DLQ stream, as
// the processor's dead letters are) and is never handed to the handler.
//
// Bounded: the reason and code, the subject, the event's own headers (at most
// MAX_HEADERS, each value cut to MAX_HEADER_VALUE characters) and at most
// `maxPayloadBytes` of the payload. The payload is kept only when it is known
// to hold ciphertext in every sensitive field (open-event.ts isSealedPayload):
// a payload that does not decode, or that was published around the API with
// plaintext in it, is withheld, so a dead letter never puts plaintext on the
// broker's disk. `Fle-Dlq-Payload` says which: `full`, `prefix` or `withheld`.
import { headers as natsHeaders, type JetStreamClient, type MsgHdrs } from 'nats';
import { dlqSubject, FLE_HEADERS, isValidNatsToken } from '@fle/service-kit';
import { EVENT_HEADERS } from './binding.js';

/** Header names a dead letter adds besides @fle/service-kit's FLE_HEADERS.dlq*. */
export const DEAD_LETTER_HEADERS = {
  /** The event's Nats-Msg-Id (Nats-* headers are not copied: the DLQ stream would act on them). */
  msgId: 'Fle-Dlq-Msg-Id',
  /** Payload size in bytes as received. */
  size: 'Fle-Dlq-Size',
  /** `full`, `prefix` (cut at maxPayloadBytes) or `withheld` (not known to be sealed). */
  payload: 'Fle-Dlq-Payload',
} as const;

export const DEFAULT_DEAD_LETTER_ROUTE = 'events';
export const DEFAULT_MAX_DEAD_LETTER_PAYLOAD = 64 * 1024;
const MAX_HEADERS = 32;
const MAX_HEADER_VALUE = 256;

export interface DeadLetterOptions {
  /** Last subject token: `fle.dlq.<tenant>.<route>`. Default `events`. */
  readonly route?: string;
  /** Payload bytes kept at most (0 keeps none). Default 64 KiB. */
  readonly maxPayloadBytes?: number;
}

export interface DeadLetter {
  readonly subject: string;
  readonly headers: MsgHdrs | undefined;
  readonly data: Uint8Array;
  /** The delivery (`js:<stream>:<seq>` or `core:<uuid>`): dead-lettering it twice stores it once. */
  readonly origin: string;
  readonly reason: string;
  readonly code: string;
  /** Whether the payload is known to be ciphertext-only (else it is withheld). */
  readonly sealed: boolean;
}

export class EventDeadLetters {
  readonly route: string;
  readonly maxPayloadBytes: number;

  constructor(
    private readonly js: JetStreamClient,
    opts: DeadLetterOptions = {},
  ) {
    this.route = opts.route ?? DEFAULT_DEAD_LETTER_ROUTE;
    if (!isValidNatsToken(this.route)) throw new RangeError('dead-letter route must be 1-64 characters of [A-Za-z0-9_-]');
    this.maxPayloadBytes = opts.maxPayloadBytes ?? DEFAULT_MAX_DEAD_LETTER_PAYLOAD;
    if (!Number.isInteger(this.maxPayloadBytes) || this.maxPayloadBytes < 0) throw new RangeError('maxPayloadBytes must be an integer >= 0');
  }

  /** Publishes the dead letter and waits for the stream's ack; throws when it was not stored (then do not ack the event). */
  async publish(d: DeadLetter): Promise<{ subject: string }> {
    const h = natsHeaders();
    let copied = 0;
    if (d.headers) {
      for (const [name, values] of d.headers) {
        if (name.startsWith('Nats-') || name.startsWith('Fle-Dlq-')) continue;
        for (const v of values) if (copied++ < MAX_HEADERS) h.append(name, cut(v));
      }
    }
    h.set(FLE_HEADERS.dlqReason, d.reason);
    h.set(FLE_HEADERS.dlqCode, d.code);
    h.set(FLE_HEADERS.dlqSubject, cut(d.subject));
    h.set(FLE_HEADERS.dlqOrigin, d.origin);
    const msgId = d.headers?.get(EVENT_HEADERS.msgId) ?? '';
    if (msgId !== '') h.set(DEAD_LETTER_HEADERS.msgId, cut(msgId));
    h.set(DEAD_LETTER_HEADERS.size, String(d.data.byteLength));
    let body: Uint8Array;
    if (!d.sealed || this.maxPayloadBytes === 0) {
      body = new Uint8Array(0);
      h.set(DEAD_LETTER_HEADERS.payload, 'withheld');
    } else if (d.data.byteLength > this.maxPayloadBytes) {
      body = d.data.subarray(0, this.maxPayloadBytes);
      h.set(DEAD_LETTER_HEADERS.payload, 'prefix');
    } else {
      body = d.data;
      h.set(DEAD_LETTER_HEADERS.payload, 'full');
    }
    const tenant = d.headers?.get(EVENT_HEADERS.tenant) ?? '';
    const subject = dlqSubject(isValidNatsToken(tenant) ? tenant : '_unknown', this.route);
    // msgID = origin: a retried dead-lettering of the same delivery is stored once.
    await this.js.publish(subject, body, { headers: h, msgID: `dlq:${d.origin}` });
    return { subject };
  }
}

/** A header value as a bounded, single-line string. */
function cut(v: string): string {
  const line = v.replace(/[\r\n]/g, ' ');
  return line.length > MAX_HEADER_VALUE ? line.slice(0, MAX_HEADER_VALUE) : line;
}
