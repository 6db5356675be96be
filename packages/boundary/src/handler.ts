// A handler runs inside the decrypt boundary on the opened (plaintext) typed
// request and returns the plaintext response; the pipeline seals it.
import type { FieldCipher } from '@fle/field-crypto';
import type { Logger, ReplayStamp, ServiceMetrics } from '@fle/service-kit';

export interface HandlerContext {
  readonly tenant: string;
  /** The request's replay stamp; its nonce identifies the request for idempotent effects. */
  readonly stamp: ReplayStamp;
  /** True when this delivery resumes one that did not complete (JetStream redelivery). */
  readonly resumed: boolean;
  /**
   * Field path -> id of the registered device that sealed it (alg 4, HPKE auth
   * mode, docs/envelope-hpke.md §5); empty when no field was device-sealed.
   */
  readonly sealedBy: ReadonlyMap<string, string>;
  /** Seals/opens with the processor's KeyProvider (e.g. records at rest). */
  readonly cipher: FieldCipher;
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
}

export type Handler<Req = any, Res = any> = (request: Req, ctx: HandlerContext) => Promise<Res>;
