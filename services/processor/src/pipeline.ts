// The decrypt boundary, transport-independent (DESIGN.md: processor). For each
// request: method and tenant checks, replay check, open every field with keys
// from the KeyProvider, run the handler on the plaintext typed message, seal
// the response under the tenant's primary version (same request context), and
// hand back the response bytes plus the nonce claim the transport completes
// once the reply (and ack) are done.
import { createHash } from 'node:crypto';
import { appendFile } from 'node:fs/promises';
import { readTenant, type CompiledSchema, type FieldCipher } from '@fle/field-crypto';
import {
  RoutingError,
  assertTenantToken,
  classifyError,
  decodeOrThrow,
  replayContext,
  type Logger,
  type NonceClaim,
  type RegisteredMethod,
  type ReplayGuard,
  type ReplayStamp,
  type RpcRegistry,
  type ServiceMetrics,
  type StreamDelivery,
} from '@fle/service-kit';
import { serializerFor } from '@fle/schema/serializers';
import type { ProcessorRoute } from './config.js';
import type { Handler } from './handlers/handler.js';

export type TransportKind = 'nats' | 'jetstream' | 'grpc';

export interface InboundRequest {
  readonly transport: TransportKind;
  /** gRPC method path (NATS header `Fle-Method` or the gRPC call's path). */
  readonly path: string | undefined;
  /** Tenant and route tokens of the NATS subject, when it came over NATS. */
  readonly subjectTenant?: string;
  readonly subjectRoute?: string;
  readonly bytes: Uint8Array;
  /** Parsed stamp; a parse failure is thrown by the transport before calling. */
  readonly stamp: ReplayStamp;
  /** Delivery identity: `js:<stream>:<seq>` or unique per message. */
  readonly origin: string;
  /** JetStream: message id, stored time, delivery count (the replay guard's stream deduplication, docs/replay.md). */
  readonly stream?: StreamDelivery;
}

export interface HandledRequest {
  readonly bytes: Buffer;
  readonly tenant: string;
  readonly route: string;
  /** Complete after the reply is sent (and the JetStream message acked). */
  readonly claim: NonceClaim;
}

export interface BoundHandler {
  readonly route: ProcessorRoute;
  readonly method: RegisteredMethod;
  readonly handler: Handler;
}

export interface PipelineOptions {
  readonly schema: CompiledSchema;
  readonly registry: RpcRegistry;
  readonly cipher: FieldCipher;
  readonly guard: ReplayGuard;
  readonly handlers: readonly BoundHandler[];
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
  readonly testProbe?: { readonly openedDigestFile: string; readonly holdMs?: number };
}

export class Pipeline {
  readonly #byPath = new Map<string, BoundHandler>();
  readonly #byRoute = new Map<string, BoundHandler>();
  /** Response encoders on the reused writer (@fle/schema/encode), by method path; the method's own serializer otherwise. */
  readonly #encodeResponse = new Map<string, (response: unknown) => Buffer>();
  constructor(private readonly o: PipelineOptions) {
    for (const h of o.handlers) {
      this.#byPath.set(h.method.path, h);
      this.#byRoute.set(h.route.route, h);
      this.#encodeResponse.set(h.method.path, serializerFor(h.method.def, h.method.responseType, (r: unknown) => h.method.def.responseSerialize(r)));
    }
  }

  get routes(): BoundHandler[] {
    return [...this.#byPath.values()];
  }

  /** The route a message belongs to (by path, or by subject route); UNKNOWN_METHOD otherwise. */
  resolve(req: Pick<InboundRequest, 'path' | 'subjectRoute'>): BoundHandler {
    const byPath = req.path ? this.#byPath.get(req.path) : undefined;
    const byRoute = req.subjectRoute ? this.#byRoute.get(req.subjectRoute) : undefined;
    const bound = byPath ?? byRoute;
    if (!bound || (req.path && !byPath) || (req.subjectRoute && byRoute !== bound)) {
      throw new RoutingError('UNKNOWN_METHOD', 'no handler for this method');
    }
    return bound;
  }

  async handle(req: InboundRequest): Promise<HandledRequest> {
    const bound = this.resolve(req);
    const { method } = bound;
    const msg = decodeOrThrow(method.def.requestDeserialize, req.bytes, 'request');
    const tenant = assertTenantToken(readTenant(this.o.schema, method.requestType, msg));
    if (req.subjectTenant !== undefined && req.subjectTenant !== tenant) {
      throw new RoutingError('TENANT_MISMATCH', 'the subject tenant differs from the message tenant');
    }
    const claim = await this.o.guard.admit({ tenant, stamp: req.stamp, origin: req.origin, stream: req.stream });
    try {
      const context = replayContext(req.stamp);
      const sealedBy = new Map<string, string>();
      // In place: the decoded request is this call's own (dropped on an error).
      const plain = await this.o.cipher.openMessage(method.requestType, msg, { context, inPlace: true, onSender: (path, device) => sealedBy.set(path, device) });
      if (sealedBy.size > 0) this.o.logger.debug({ tenant, devices: [...new Set(sealedBy.values())] }, 'fields sealed by registered devices');
      this.o.metrics.opens.inc({ type: method.requestType });
      if (this.o.testProbe) await this.#probe(method, plain, req.stamp);
      const response = await bound.handler(plain, {
        tenant,
        stamp: req.stamp,
        resumed: claim.outcome === 'resumed',
        sealedBy,
        cipher: this.o.cipher,
        logger: this.o.logger,
        metrics: this.o.metrics,
      });
      const sealed = await this.o.cipher.sealMessage(method.responseType, response, { context });
      this.o.metrics.seals.inc({ type: method.responseType });
      return { bytes: this.#encodeResponse.get(method.path)!(sealed), tenant, route: bound.route.route, claim };
    } catch (err) {
      // A transient failure frees the nonce (the retry is the same request);
      // a permanent one consumes it: the same stamp is never accepted again.
      const settle = classifyError(err).permanent ? claim.complete() : claim.release();
      await settle.catch((e: unknown) => this.o.logger.warn({ err: e }, 'could not settle nonce claim'));
      throw err;
    }
  }

  /** Test probe: the digest of the opened request proves the handler saw the exact plaintext. */
  async #probe(method: RegisteredMethod, plain: unknown, stamp: ReplayStamp): Promise<void> {
    const bytes = method.def.requestSerialize(plain);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const { openedDigestFile, holdMs } = this.o.testProbe!;
    await appendFile(openedDigestFile, `${JSON.stringify({ nonce: stamp.nonce, sha256 })}\n`);
    if (holdMs) await new Promise((r) => setTimeout(r, holdMs));
  }
}
