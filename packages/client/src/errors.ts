// What a failed call looks like to SDK users: the gRPC status plus the stable
// fle error code the server attached (metadata `fle-error-code`).
import { status, type ServiceError } from '@grpc/grpc-js';

export class FleCallError extends Error {
  /** gRPC status, e.g. status.INVALID_ARGUMENT. */
  readonly status: status;
  /** Stable fle code (e.g. `PLAINTEXT_IN_SENSITIVE_FIELD`, `REPLAY_NONCE`), `UNKNOWN` when none. */
  readonly code: string;
  readonly details: string;
  constructor(err: ServiceError) {
    const carried = err.metadata?.get('fle-error-code')[0];
    const code = typeof carried === 'string' ? carried : 'UNKNOWN';
    super(`${status[err.code] ?? err.code} ${code}: ${err.details}`, { cause: err });
    this.name = 'FleCallError';
    this.status = err.code;
    this.code = code;
    this.details = err.details;
  }
}
