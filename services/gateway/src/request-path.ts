// The one request path of the gateway, shared by its two listeners: the mTLS
// gRPC server (gateway.ts) and the public edge (edge/edge.ts). Each listener
// only says who the caller is and, for the edge, what else must hold once the
// request is checked; the checks, the limits and the forwarding are here, in
// this order, for both:
//
//   caller (listener)  ->  per-caller rate limit (before decoding)  ->  replay stamp
//   ->  checkRequest: size, wire check, protobuf, tenant, every sensitive field an envelope
//   ->  authorize (listener: the edge's token tenant, envelope algs, device senders)
//   ->  per-tenant rate limit  ->  forward the checked bytes  ->  checkResponse
import type { CompiledSchema, WireCheck } from '@fle/field-crypto';
import { classifyError, type Logger, type RegisteredMethod, type ReplayStamp, type ServiceMetrics } from '@fle/service-kit';
import type { RouteConfig } from './config.js';
import type { Forwarder } from './forwarders/forwarder.js';
import type { RateLimiter } from './rate-limit.js';
import { checkRequest, checkResponse, type CheckedRequest } from './request-check.js';

export interface BoundRoute {
  readonly route: RouteConfig;
  readonly method: RegisteredMethod;
  readonly forwarder: Forwarder;
  /** The request's wire check (docs/wire-check.md), compiled once. */
  readonly wireCheck: WireCheck;
}

/** What a listener hands the request path for one call. */
export interface IncomingRequest {
  /** The request message as protobuf bytes: what is checked is what is forwarded. */
  readonly bytes: Uint8Array;
  /** `grpc` (mTLS) or `edge` (public): for logs. */
  readonly listener: 'grpc' | 'edge';
  /** The caller's identity, or throws to refuse (CALLER_NOT_ALLOWED, UNAUTHENTICATED). Runs first. */
  caller(): Promise<string | undefined> | string | undefined;
  /** The replay stamp (fle-timestamp / fle-nonce); throws MissingStampError. */
  stamp(): ReplayStamp;
  /** After the request passed every check, before the tenant's bucket and forwarding; throws to refuse. */
  authorize?(checked: CheckedRequest, caller: string | undefined): Promise<void> | void;
}

export interface RequestPathDeps {
  readonly schema: CompiledSchema;
  readonly rateLimiter: RateLimiter;
  readonly metrics: ServiceMetrics;
  readonly log: Logger;
  readonly maxMessageBytes: number;
  readonly maxFieldBytes: number | undefined;
}

export type RequestPath = (b: BoundRoute, req: IncomingRequest) => Promise<Uint8Array>;

export function createRequestPath(deps: RequestPathDeps): RequestPath {
  const { schema, rateLimiter, metrics, log } = deps;
  return async (b, req) => {
    const started = performance.now();
    const labels = { route: b.route.route, transport: b.route.transport };
    const size = req.bytes.byteLength;
    let tenant: string | undefined;
    let caller: string | undefined;
    try {
      caller = await req.caller();
      rateLimiter.admitCaller(caller, size); // before decoding: RATE_LIMITED
      const stamp = req.stamp();
      // Forwarded below are the original bytes, only after the wire check proved they hold exactly the checked view.
      const checked = checkRequest(schema, b.method, b.wireCheck, req.bytes, deps.maxMessageBytes, deps.maxFieldBytes);
      tenant = checked.tenant;
      await req.authorize?.(checked, caller);
      rateLimiter.admitTenant(tenant, size);
      const reply = await b.forwarder.forward({ method: b.method, route: b.route, tenant, bytes: req.bytes, stamp, caller });
      checkResponse(schema, b.method, reply);
      metrics.requests.inc({ ...labels, outcome: 'ok' });
      log.info({ method: b.method.path, listener: req.listener, route: b.route.route, transport: b.route.transport, tenant, caller, size, envelopes: checked.envelopes, replySize: reply.byteLength, ms: Math.round(performance.now() - started) }, 'request routed');
      return reply;
    } catch (err) {
      const c = classifyError(err);
      metrics.requests.inc({ ...labels, outcome: 'error' });
      metrics.failures.inc({ reason: c.reason });
      log.warn({ method: b.method.path, listener: req.listener, route: b.route.route, transport: b.route.transport, tenant, caller, size, err, status: c.grpcStatus }, 'request refused');
      throw err;
    } finally {
      metrics.requestSeconds.observe(labels, (performance.now() - started) / 1000);
    }
  };
}
