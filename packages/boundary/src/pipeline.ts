// The decrypt boundary, transport-independent (DESIGN.md: processor). For each
// request: method and tenant checks, replay check, open every field with keys
// from the KeyProvider, run the handler on the plaintext message, seal the
// response under the tenant's primary version (same request context), and
// hand back the response bytes plus the nonce claim the transport completes
// once the reply (and ack) are done.
import { createHash } from 'node:crypto';
import { appendFile } from 'node:fs/promises';
import { UnknownSenderError, readTenant, type CompiledSchema, type FieldCipher, type SenderPolicy } from '@fle/field-crypto';
import {
  RoutingError,
  assertTenantToken,
  classifyError,
  replayContext,
  type Logger,
  type NonceClaim,
  type ReplayGuard,
  type ReplayStamp,
  type ServiceMetrics,
  type StreamDelivery,
} from '@fle/service-kit';
import type { TransportKind } from './handler.js';
import type { BoundMethod } from './methods.js';

export type { TransportKind } from './handler.js';

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
  /** The caller's SPIFFE ID (gRPC peer certificate, or the gateway's `Fle-Caller` header). */
  readonly caller?: string;
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

/**
 * Checks a request's bytes before anything is decoded or opened (wire format,
 * envelope count: issue 17 items 1 and 3; @fle/field-crypto compileWireCheck);
 * throws a permanent typed error.
 */
export type WireCheck = (bytes: Uint8Array) => unknown;

/**
 * A SenderPolicy whose answers come from a cache the opener fills first
 * (keystore-client's KeystoreSenderPolicy): `prepare(tenant)` before opening a
 * tenant's request; after an UnknownSenderError, `retryAfterUnknownSender`
 * says whether the list was refetched and changed (a device enrolled since),
 * so opening once more may succeed.
 */
export interface PreparedSenderPolicy extends SenderPolicy {
  prepare(tenant: string): Promise<void>;
  retryAfterUnknownSender(tenant: string): Promise<boolean>;
}

export interface PipelineOptions {
  readonly schema: CompiledSchema;
  readonly cipher: FieldCipher;
  readonly guard: ReplayGuard;
  readonly methods: readonly BoundMethod[];
  /** Per request type: the wire check (the boundary compiles one per routed method). */
  readonly wireChecks?: ReadonlyMap<string, WireCheck>;
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
  readonly testProbe?: { readonly openedDigestFile: string; readonly holdMs?: number };
  /** The cipher's sender policy when it must be prepared per tenant (devices enrolled in the keystore). */
  readonly senders?: PreparedSenderPolicy;
}

/** Reads a varint at `pos`; [value, next position], or undefined past the end or beyond 10 bytes. */
function varint(b: Uint8Array, pos: number): [number, number] | undefined {
  let value = 0;
  for (let i = 0; i < 10; i++) {
    if (pos >= b.length) return undefined;
    const byte = b[pos++]!;
    if (i < 7) value += (byte & 0x7f) * 2 ** (7 * i);
    if (byte < 0x80) return [value, pos];
  }
  return undefined;
}

/** True when `b` is a sequence of well-formed top-level fields (tags, lengths within bounds), whatever the schema. */
function wellFormedFields(b: Uint8Array): boolean {
  let pos = 0;
  while (pos < b.length) {
    const tag = varint(b, pos);
    if (!tag || tag[0] < 8) return false;
    pos = tag[1];
    switch (tag[0] % 8) {
      case 0: {
        const v = varint(b, pos);
        if (!v) return false;
        pos = v[1];
        break;
      }
      case 1:
        pos += 8;
        break;
      case 2: {
        const len = varint(b, pos);
        if (!len) return false;
        pos = len[1] + len[0];
        break;
      }
      case 5:
        pos += 4;
        break;
      default:
        return false; // groups (3, 4) and wire types 6, 7
    }
    if (pos > b.length) return false;
  }
  return true;
}

function badProtobuf(cause?: unknown): RoutingError {
  return new RoutingError('BAD_PROTOBUF', 'request is not valid protobuf', { cause });
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export class Pipeline {
  readonly #byPath = new Map<string, BoundMethod>();
  readonly #byRoute = new Map<string, BoundMethod>();
  constructor(private readonly o: PipelineOptions) {
    for (const m of o.methods) {
      this.#byPath.set(m.path, m);
      this.#byRoute.set(m.route, m);
    }
  }

  get methods(): BoundMethod[] {
    return [...this.#byPath.values()];
  }

  /** The method a message belongs to (by path, or by subject route); UNKNOWN_METHOD otherwise. */
  resolve(req: Pick<InboundRequest, 'path' | 'subjectRoute'>): BoundMethod {
    const byPath = req.path ? this.#byPath.get(req.path) : undefined;
    const byRoute = req.subjectRoute ? this.#byRoute.get(req.subjectRoute) : undefined;
    const bound = byPath ?? byRoute;
    if (!bound || (req.path && !byPath) || (req.subjectRoute && byRoute !== bound)) {
      throw new RoutingError('UNKNOWN_METHOD', 'no handler for this method');
    }
    return bound;
  }

  async handle(req: InboundRequest): Promise<HandledRequest> {
    const method = this.resolve(req);
    // Before decoding: bytes that hold more (or other) than the schema says are
    // refused here too, since a publisher can bypass the gateway. Bytes that
    // are not a sequence of protobuf fields at all stay BAD_PROTOBUF.
    try {
      this.o.wireChecks?.get(method.requestType)?.(req.bytes);
    } catch (err) {
      if (!wellFormedFields(req.bytes)) throw badProtobuf(err);
      throw err;
    }
    let msg: Record<string, unknown>;
    try {
      msg = method.request.decode(req.bytes);
    } catch (err) {
      throw badProtobuf(err);
    }
    const tenant = assertTenantToken(readTenant(this.o.schema, method.requestType, msg));
    if (req.subjectTenant !== undefined && req.subjectTenant !== tenant) {
      throw new RoutingError('TENANT_MISMATCH', 'the subject tenant differs from the message tenant');
    }
    // The replay claim (over core NATS and gRPC one store round trip) runs while
    // the fields are opened; the handler runs only once both are done, and a
    // replay is refused whatever the opening gave (its plaintext is dropped).
    const context = replayContext(req.stamp);
    const claiming = this.o.guard.admit({ tenant, stamp: req.stamp, origin: req.origin, stream: req.stream });
    const sealedBy = new Map<string, string>();
    const opening = this.#open(method, msg, req, context, tenant, sealedBy).then(
      (plain) => ({ plain }),
      (error: unknown) => ({ error }),
    );
    const claim = await claiming;
    try {
      const opened = await opening;
      if ('error' in opened) throw opened.error;
      const plain = opened.plain;
      if (sealedBy.size > 0) this.o.logger.debug({ tenant, devices: [...new Set(sealedBy.values())] }, 'fields sealed by registered devices');
      this.o.metrics.opens.inc({ type: method.requestType });
      if (this.o.testProbe) await this.#probe(method, plain, req.stamp);
      const response = await method.handler(plain, {
        tenant,
        method: method.path,
        caller: req.caller,
        transport: req.transport,
        stamp: req.stamp,
        resumed: claim.outcome === 'resumed',
        sealedBy,
        cipher: this.o.cipher,
        logger: this.o.logger,
        metrics: this.o.metrics,
      });
      if (response === null || typeof response !== 'object') {
        throw new Error(`the handler of ${method.path} returned no response message`); // INTERNAL to the caller
      }
      const sealed = await this.o.cipher.sealMessage(method.responseType, response as Record<string, unknown>, { context });
      this.o.metrics.seals.inc({ type: method.responseType });
      return { bytes: toBuffer(method.response.encode(sealed)), tenant, route: method.route, claim };
    } catch (err) {
      // A transient failure frees the nonce (the retry is the same request);
      // a permanent one consumes it: the same stamp is never accepted again.
      const settle = classifyError(err).permanent ? claim.complete() : claim.release();
      await settle.catch((e: unknown) => this.o.logger.warn({ err: e }, 'could not settle nonce claim'));
      throw err;
    }
  }

  /** Opens every sensitive field of the decoded request `msg` (in place), noting which device sealed what. */
  async #open(method: BoundMethod, msg: Record<string, unknown>, req: InboundRequest, context: string, tenant: string, sealedBy: Map<string, string>): Promise<unknown> {
    // In place: the decoded request is this call's own (dropped on an error).
    // No closure per request (under tsx each named one costs an Object.defineProperty): a bound Map#set.
    const opts = { context, inPlace: true, onSender: sealedBy.set.bind(sealedBy) };
    const senders = this.o.senders;
    // The tenant's enrolled devices, fetched unless cached within the TTL:
    // the (synchronous) sender checks answer from that list.
    if (senders) await senders.prepare(tenant);
    try {
      return await this.o.cipher.openMessage(method.requestType, msg, opts);
    } catch (err) {
      // An unknown sender may be a device enrolled since the list was
      // fetched: refetched at most once per interval, then opened once more
      // from a fresh decode (the failed open changed `msg` in place).
      if (!(err instanceof UnknownSenderError) || !senders || !(await senders.retryAfterUnknownSender(tenant))) throw err;
      sealedBy.clear();
      return this.o.cipher.openMessage(method.requestType, method.request.decode(req.bytes), opts);
    }
  }

  /** Test probe: the digest of the opened request proves the handler saw the exact plaintext. */
  async #probe(method: BoundMethod, plain: unknown, stamp: ReplayStamp): Promise<void> {
    const bytes = method.request.encode(plain as Record<string, unknown>);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const { openedDigestFile, holdMs } = this.o.testProbe!;
    await appendFile(openedDigestFile, `${JSON.stringify({ nonce: stamp.nonce, sha256 })}\n`);
    if (holdMs) await new Promise((r) => setTimeout(r, holdMs));
  }
}
