// Dead letters (DESIGN.md "Failure policy"): a NATS message that cannot be
// processed is published, with its reason, to `fle.dlq.<tenant>.<route>`
// (stream FLE_DLQ) before it is acked — never silently dropped.
//
// A dead letter is small (issue 17 item 2): the reason, code, subject and
// origin, the original headers (each value and their total bounded), the
// original size (`Fle-Dlq-Size`) and at most the first DEAD_LETTER_BODY_BYTES
// of the body (ciphertext in every sensitive field), never more. Kept whole,
// 4 MiB undecryptable requests filled the whole JetStream store in seconds.
import { headers as natsHeaders, type JetStreamClient, type MsgHdrs } from 'nats';
import { FLE_HEADERS, classifyError, dlqSubject, isValidNatsToken, type Logger, type ServiceMetrics } from '@fle/service-kit';

export interface DeadLetter {
  readonly subject: string;
  readonly tenant: string | undefined;
  readonly route: string | undefined;
  readonly bytes: Uint8Array;
  readonly headers: MsgHdrs | undefined;
  readonly origin: string;
  readonly error: unknown;
}

/** The most of the original body a dead letter keeps: enough to see the message's first fields. */
export const DEAD_LETTER_BODY_BYTES = 1024;
/**
 * Refusals for what the bytes hold, not for what they mean: the body was never
 * shown to be ciphertext in every sensitive field (plaintext in a sensitive
 * field, a copy a decoder would drop, an unknown field: issue 17 item 1), so
 * none of it is kept; the letter keeps the reason, headers and size only.
 */
const BODY_NOT_KEPT = new Set(['WIRE_FORMAT', 'TOO_MANY_ENVELOPES', 'PLAINTEXT_IN_SENSITIVE_FIELD']);
/** The original headers kept: each value up to this many bytes… */
const HEADER_VALUE_BYTES = 256;
/** …and all of them up to this many (the replay stamp, method, caller, reply inbox fit easily). */
const HEADERS_TOTAL_BYTES = 4096;

export class DeadLetterPublisher {
  constructor(
    private readonly js: JetStreamClient,
    private readonly logger: Logger,
    private readonly metrics: ServiceMetrics,
  ) {}

  /** Publish and wait for the stream's ack; throws when the DLQ cannot take it (then do not ack the original). */
  async publish(d: DeadLetter): Promise<void> {
    const c = classifyError(d.error);
    const h = natsHeaders();
    // Keep the original headers (replay stamp, method) for diagnosis, bounded.
    let headerBytes = 0;
    if (d.headers) {
      for (const [k, vs] of d.headers) {
        if (k.startsWith('Nats-')) continue;
        for (const v of vs) {
          headerBytes += k.length + Math.min(v.length, HEADER_VALUE_BYTES);
          if (headerBytes > HEADERS_TOTAL_BYTES) break;
          h.append(k, v.length > HEADER_VALUE_BYTES ? v.slice(0, HEADER_VALUE_BYTES) : v);
        }
      }
    }
    h.set(FLE_HEADERS.dlqSize, String(d.bytes.byteLength));
    h.set(FLE_HEADERS.dlqReason, c.reason);
    h.set(FLE_HEADERS.dlqCode, c.code);
    h.set(FLE_HEADERS.dlqSubject, d.subject);
    h.set(FLE_HEADERS.dlqOrigin, d.origin);
    const tenant = d.tenant && isValidNatsToken(d.tenant) ? d.tenant : '_unknown';
    const route = d.route && isValidNatsToken(d.route) ? d.route : '_unknown';
    // msgID = origin: a retried dead-lettering of the same delivery is stored once.
    const body = BODY_NOT_KEPT.has(c.code) ? new Uint8Array(0) : d.bytes.byteLength > DEAD_LETTER_BODY_BYTES ? d.bytes.subarray(0, DEAD_LETTER_BODY_BYTES) : d.bytes;
    await this.js.publish(dlqSubject(tenant, route), body, { headers: h, msgID: `dlq:${d.origin}` });
    this.metrics.deadLetters.inc({ reason: c.reason });
    this.logger.warn({ tenant, route, reason: c.reason, code: c.code, origin: d.origin, size: d.bytes.byteLength }, 'dead-lettered');
  }
}
