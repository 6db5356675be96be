// The ONE mapping from typed errors to gRPC status and dead-letter reasons
// (STYLE.md: "the mapping to gRPC status lives in one function").
// Keyed by the stable `code` of field-crypto, keystore-client, replay and
// routing errors, so no service imports another's error classes to map them.
import { Metadata, status, type ServiceError, type StatusObject } from '@grpc/grpc-js';

export interface ErrorClass {
  /** The stable error code (e.g. `DECRYPTION_FAILED`), `INTERNAL` for untyped errors. */
  readonly code: string;
  readonly grpcStatus: status;
  /** Safe to show a caller: never plaintext, keys or nonces. */
  readonly message: string;
  /** Permanent: retrying the same bytes cannot succeed (dead-letter it). Transient: retry with backoff. */
  readonly permanent: boolean;
  /** Dead-letter / metrics reason label: lower-case, bounded cardinality. */
  readonly reason: string;
}

interface Rule {
  readonly grpcStatus: status;
  readonly permanent: boolean;
}

const RULES: Record<string, Rule> = {
  // field-crypto (packages/field-crypto/src/errors.ts)
  ENVELOPE_FORMAT: { grpcStatus: status.INVALID_ARGUMENT, permanent: true },
  PLAINTEXT_IN_SENSITIVE_FIELD: { grpcStatus: status.INVALID_ARGUMENT, permanent: true },
  DECRYPTION_FAILED: { grpcStatus: status.PERMISSION_DENIED, permanent: true },
  UNKNOWN_KEY_VERSION: { grpcStatus: status.FAILED_PRECONDITION, permanent: true },
  UNKNOWN_KEY_RING: { grpcStatus: status.FAILED_PRECONDITION, permanent: true },
  SCHEMA: { grpcStatus: status.FAILED_PRECONDITION, permanent: true },
  MISSING_TENANT: { grpcStatus: status.INVALID_ARGUMENT, permanent: true },
  INVALID_FIELD_VALUE: { grpcStatus: status.INVALID_ARGUMENT, permanent: true },
  // bytes a decoder would drop or merge (wire-check.ts), and the per-message envelope cap
  WIRE_FORMAT: { grpcStatus: status.INVALID_ARGUMENT, permanent: true },
  TOO_MANY_ENVELOPES: { grpcStatus: status.INVALID_ARGUMENT, permanent: true },
  // alg 4 from an unregistered device, or alg 3 where devices are required (docs/envelope-hpke.md §5)
  UNKNOWN_SENDER: { grpcStatus: status.PERMISSION_DENIED, permanent: true },
  // keystore-client (packages/keystore-client/src/errors.ts): outage is transient, policy is not.
  KEYSTORE_UNAVAILABLE: { grpcStatus: status.UNAVAILABLE, permanent: false },
  KEYSTORE_PERMISSION_DENIED: { grpcStatus: status.PERMISSION_DENIED, permanent: true },
  KEYSTORE_ERROR: { grpcStatus: status.INTERNAL, permanent: false },
  // replay (./replay)
  REPLAY_NONCE: { grpcStatus: status.PERMISSION_DENIED, permanent: true },
  REPLAY_TIMESTAMP: { grpcStatus: status.PERMISSION_DENIED, permanent: true },
  MISSING_STAMP: { grpcStatus: status.INVALID_ARGUMENT, permanent: true },
  // routing / transport (./errors.ts)
  UNKNOWN_METHOD: { grpcStatus: status.UNIMPLEMENTED, permanent: true },
  INVALID_TENANT: { grpcStatus: status.INVALID_ARGUMENT, permanent: true },
  TENANT_MISMATCH: { grpcStatus: status.PERMISSION_DENIED, permanent: true },
  BAD_PROTOBUF: { grpcStatus: status.INVALID_ARGUMENT, permanent: true },
  BAD_REQUEST: { grpcStatus: status.INVALID_ARGUMENT, permanent: true },
  MESSAGE_TOO_LARGE: { grpcStatus: status.RESOURCE_EXHAUSTED, permanent: true },
  CALLER_NOT_ALLOWED: { grpcStatus: status.PERMISSION_DENIED, permanent: true },
  // the gateway's public edge (services/gateway/src/edge): no or a bad bearer token; a symmetric envelope from an app
  UNAUTHENTICATED: { grpcStatus: status.UNAUTHENTICATED, permanent: true },
  SYMMETRIC_ENVELOPE: { grpcStatus: status.PERMISSION_DENIED, permanent: true },
  UPSTREAM_UNAVAILABLE: { grpcStatus: status.UNAVAILABLE, permanent: false },
  UPSTREAM_TIMEOUT: { grpcStatus: status.DEADLINE_EXCEEDED, permanent: false },
  OVERLOADED: { grpcStatus: status.RESOURCE_EXHAUSTED, permanent: false },
  // per-caller / per-tenant rate limit at the gateway; a stream or bucket full (./jetstream-errors.ts)
  RATE_LIMITED: { grpcStatus: status.RESOURCE_EXHAUSTED, permanent: false },
  STORE_FULL: { grpcStatus: status.RESOURCE_EXHAUSTED, permanent: false },
  INTERNAL: { grpcStatus: status.INTERNAL, permanent: false },
};

/** Upstream gRPC statuses (e.g. from a processor or the keystore) that are worth retrying. */
const TRANSIENT_GRPC = new Set<status>([status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.RESOURCE_EXHAUSTED, status.ABORTED]);

/** Metadata key carrying the stable error code next to the gRPC status. */
export const ERROR_CODE_METADATA = 'fle-error-code';

function codeOf(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof (err as { code: unknown }).code === 'string') {
    return (err as { code: string }).code;
  }
  return undefined;
}

function isGrpcServiceError(err: unknown): err is ServiceError {
  return (
    err instanceof Error &&
    typeof (err as Partial<ServiceError>).code === 'number' &&
    (err as Partial<ServiceError>).metadata instanceof Metadata
  );
}

function reasonOf(code: string): string {
  return code.toLowerCase().replace(/[^a-z0-9]+/g, '_');
}

/**
 * Classify any thrown value. Typed errors keep their own (safe) message; anything
 * else becomes `INTERNAL` with a fixed message — its text stays in logs only.
 */
export function classifyError(err: unknown): ErrorClass {
  const code = codeOf(err);
  if (code !== undefined) {
    const rule = RULES[code];
    if (rule) {
      return { code, grpcStatus: rule.grpcStatus, message: (err as Error).message, permanent: rule.permanent, reason: reasonOf(code) };
    }
  }
  if (isGrpcServiceError(err)) {
    // A status that came back from an upstream gRPC hop: keep its status and the
    // typed code it carried, so mapping is stable across hops.
    const carried = err.metadata.get(ERROR_CODE_METADATA)[0];
    const carriedCode = typeof carried === 'string' ? carried : undefined;
    const rule = carriedCode ? RULES[carriedCode] : undefined;
    if (carriedCode && rule) {
      return { code: carriedCode, grpcStatus: rule.grpcStatus, message: err.details, permanent: rule.permanent, reason: reasonOf(carriedCode) };
    }
    const transient = TRANSIENT_GRPC.has(err.code);
    const mapped = transient ? (err.code === status.DEADLINE_EXCEEDED ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_UNAVAILABLE') : 'INTERNAL';
    return {
      code: mapped,
      grpcStatus: transient ? err.code : status.INTERNAL,
      message: transient ? 'upstream unavailable' : 'internal error',
      permanent: false,
      reason: reasonOf(mapped),
    };
  }
  return { code: 'INTERNAL', grpcStatus: status.INTERNAL, message: 'internal error', permanent: false, reason: 'internal' };
}

/**
 * The error a grpc-js handler passes to its callback: a numeric status, a safe
 * `details`, and the typed code in metadata `fle-error-code`. Never UNKNOWN with
 * a raw message (STYLE.md grpc-js pitfalls).
 */
export function toServiceError(err: unknown): Partial<StatusObject> & { code: status; details: string; metadata: Metadata } {
  const c = classifyError(err);
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_METADATA, c.code);
  return { code: c.grpcStatus, details: c.message, metadata };
}

/** True when retrying later may succeed (keystore/NATS down, timeouts). */
export function isTransient(err: unknown): boolean {
  return !classifyError(err).permanent;
}
