// Dead letters (DESIGN.md "Failure policy"): a NATS message that cannot be
// processed is published, with its reason, to `fle.dlq.<tenant>.<route>`
// (stream FLE_DLQ) before it is acked — never silently dropped. The body is
// the original bytes (ciphertext in every sensitive field; never plaintext).
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
    // Keep the original headers (replay stamp, method) for diagnosis and re-drive.
    if (d.headers) for (const [k, vs] of d.headers) for (const v of vs) if (!k.startsWith('Nats-')) h.append(k, v);
    h.set(FLE_HEADERS.dlqReason, c.reason);
    h.set(FLE_HEADERS.dlqCode, c.code);
    h.set(FLE_HEADERS.dlqSubject, d.subject);
    h.set(FLE_HEADERS.dlqOrigin, d.origin);
    const tenant = d.tenant && isValidNatsToken(d.tenant) ? d.tenant : '_unknown';
    const route = d.route && isValidNatsToken(d.route) ? d.route : '_unknown';
    // msgID = origin: a retried dead-lettering of the same delivery is stored once.
    await this.js.publish(dlqSubject(tenant, route), d.bytes, { headers: h, msgID: `dlq:${d.origin}` });
    this.metrics.deadLetters.inc({ reason: c.reason });
    this.logger.warn({ tenant, route, reason: c.reason, code: c.code, origin: d.origin, size: d.bytes.byteLength }, 'dead-lettered');
  }
}
