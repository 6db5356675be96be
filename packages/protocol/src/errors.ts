// Typed errors the services raise themselves (replay, routing, transport).
// Each has a stable `code`; messages never hold plaintext, keys or nonces.
// The mapping of every code (these, field-crypto's, keystore-client's) to a
// gRPC status and a dead-letter reason lives in one place: ./status.ts.

export type ServiceErrorCode =
  | 'REPLAY_NONCE'
  | 'REPLAY_TIMESTAMP'
  | 'MISSING_STAMP'
  | 'UNKNOWN_METHOD'
  | 'INVALID_TENANT'
  | 'TENANT_MISMATCH'
  | 'BAD_PROTOBUF'
  | 'BAD_REQUEST'
  | 'MESSAGE_TOO_LARGE'
  | 'CALLER_NOT_ALLOWED'
  | 'UPSTREAM_UNAVAILABLE'
  | 'UPSTREAM_TIMEOUT'
  | 'OVERLOADED'
  | 'RATE_LIMITED'
  | 'STORE_FULL'
  | 'UNAUTHENTICATED'
  | 'SYMMETRIC_ENVELOPE'
  | 'INTERNAL';

export class FleServiceError extends Error {
  readonly code: ServiceErrorCode;
  constructor(code: ServiceErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * A request's replay stamp was already used (`REPLAY_NONCE`) or its timestamp is
 * outside the accepted window (`REPLAY_TIMESTAMP`). DESIGN.md "Replay protection".
 */
export class ReplayError extends FleServiceError {
  constructor(code: 'REPLAY_NONCE' | 'REPLAY_TIMESTAMP', message: string) {
    super(code, message);
  }
}

/** The request carries no (or a malformed) `fle-timestamp` / `fle-nonce`. */
export class MissingStampError extends FleServiceError {
  constructor(message = 'missing or malformed replay stamp (fle-timestamp, fle-nonce)') {
    super('MISSING_STAMP', message);
  }
}

/** Routing and transport failures (gateway and processor). */
export class RoutingError extends FleServiceError {
  constructor(
    code: Extract<
      ServiceErrorCode,
      | 'UNKNOWN_METHOD'
      | 'INVALID_TENANT'
      | 'TENANT_MISMATCH'
      | 'BAD_PROTOBUF'
      | 'BAD_REQUEST'
      | 'MESSAGE_TOO_LARGE'
      | 'CALLER_NOT_ALLOWED'
      | 'UPSTREAM_UNAVAILABLE'
      | 'UPSTREAM_TIMEOUT'
      | 'OVERLOADED'
      | 'RATE_LIMITED'
    >,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/**
 * A JetStream stream or KV bucket has no room left (its byte or message limit,
 * or the server's store): RESOURCE_EXHAUSTED, worth retrying once it drains.
 * The message names which store, never what was being written.
 */
export class StoreFullError extends FleServiceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('STORE_FULL', message, options);
  }
}

/**
 * An error that crossed a hop as a typed payload (code + safe message), e.g.
 * the processor's error reply seen by the gateway. It maps through the same
 * table as the original, so the caller sees the same gRPC status.
 */
export class RemoteError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'RemoteError';
  }
}
