// A handler runs inside the decrypt boundary on the opened (plaintext) request
// and returns the plaintext response; the boundary seals it under the
// request's binding. Requests and responses are plain objects as @fle/schema's
// messageCodec decodes them (camelCase fields, every field present, 64-bit
// integers as decimal strings, enums as numbers, bytes as Uint8Array).
import type { FieldCipher } from '@fle/field-crypto';
import type { Logger, ReplayStamp, ServiceMetrics } from '@fle/service-kit';

export type TransportKind = 'nats' | 'jetstream' | 'grpc';

export interface HandlerContext {
  /** The request's tenant (its tenant field; on NATS also the subject's tenant). */
  readonly tenant: string;
  /** The gRPC method path, e.g. `/team.v1.AccountService/Open`. */
  readonly method: string;
  /**
   * SPIFFE ID of the caller: over gRPC the peer certificate's (mTLS); over NATS
   * the gateway's `Fle-Caller` header (informational: what the gateway authenticated).
   */
  readonly caller: string | undefined;
  readonly transport: TransportKind;
  /** The request's replay stamp; its nonce identifies the request for idempotent effects. */
  readonly stamp: ReplayStamp;
  /**
   * True when this delivery resumes one that did not complete (JetStream
   * redelivery): an effect keyed by `stamp.nonce` may already be done; answer
   * from it instead of doing it again.
   */
  readonly resumed: boolean;
  /**
   * Field path -> id of the registered device that sealed it (alg 4, HPKE auth
   * mode, docs/envelope-hpke.md §5); empty when no field was device-sealed.
   */
  readonly sealedBy: ReadonlyMap<string, string>;
  /** Seals/opens with the boundary's KeyProvider (e.g. records at rest). */
  readonly cipher: FieldCipher;
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Handler<Req = any, Res = any> = (request: Req, ctx: HandlerContext) => Res | Promise<Res>;

/** Handlers keyed by method name (`Submit`) or full method path (`/pkg.Service/Submit`). */
export type HandlerMap = Readonly<Record<string, Handler>>;
