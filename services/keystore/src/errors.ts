// Typed errors of the keystore service. Each has a stable `code`; the mapping to
// a gRPC status lives in one function (`grpcStatusOf`). Messages name tenants,
// rings and versions, never key bytes or the master key.
import { status } from '@grpc/grpc-js';

export type KeystoreErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION'
  | 'PERMISSION_DENIED'
  | 'UNAUTHENTICATED'
  | 'CONFLICT'
  | 'STORAGE'
  | 'MASTER_KEY'
  | 'CONFIG'
  | 'BACKUP'
  | 'AUDIT';

export class KeystoreError extends Error {
  readonly code: KeystoreErrorCode;
  constructor(code: KeystoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A request names an invalid tenant, ring, version, kind or alg. */
export class InvalidArgumentError extends KeystoreError {
  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
  }
}

export class NotFoundError extends KeystoreError {
  constructor(message: string) {
    super('NOT_FOUND', message);
  }
}

export class AlreadyExistsError extends KeystoreError {
  constructor(message: string) {
    super('ALREADY_EXISTS', message);
  }
}

/** A state transition the version states do not allow (DESIGN.md "Keys"). */
export class InvalidTransitionError extends KeystoreError {
  constructor(message: string) {
    super('FAILED_PRECONDITION', message);
  }
}

export class PermissionDeniedError extends KeystoreError {
  constructor(message: string) {
    super('PERMISSION_DENIED', message);
  }
}

/** The caller presented no usable identity (no SPIFFE URI SAN). */
export class UnauthenticatedError extends KeystoreError {
  constructor(message: string) {
    super('UNAUTHENTICATED', message);
  }
}

/** A compare-and-set write lost a race; the caller re-reads and retries. */
export class StorageConflictError extends KeystoreError {
  constructor(message: string) {
    super('CONFLICT', message);
  }
}

export class StorageError extends KeystoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('STORAGE', message, options);
  }
}

/** Missing, malformed or wrong master key. Never carries the key. */
export class MasterKeyError extends KeystoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MASTER_KEY', message, options);
  }
}

export class ConfigError extends KeystoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CONFIG', message, options);
  }
}

export class BackupError extends KeystoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BACKUP', message, options);
  }
}

export class AuditError extends KeystoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('AUDIT', message, options);
  }
}

/**
 * The one mapping from an error to what a gRPC client sees. Anything that is
 * not a client-facing KeystoreError becomes INTERNAL with a fixed message: the
 * cause stays in the server log, never in the response.
 */
export function grpcStatusOf(err: unknown): { code: status; details: string } {
  if (err instanceof KeystoreError) {
    switch (err.code) {
      case 'INVALID_ARGUMENT':
        return { code: status.INVALID_ARGUMENT, details: err.message };
      case 'NOT_FOUND':
        return { code: status.NOT_FOUND, details: err.message };
      case 'ALREADY_EXISTS':
        return { code: status.ALREADY_EXISTS, details: err.message };
      case 'FAILED_PRECONDITION':
        return { code: status.FAILED_PRECONDITION, details: err.message };
      case 'PERMISSION_DENIED':
        return { code: status.PERMISSION_DENIED, details: err.message };
      case 'UNAUTHENTICATED':
        return { code: status.UNAUTHENTICATED, details: err.message };
      case 'CONFLICT':
        return { code: status.ABORTED, details: 'concurrent update, retry' };
      case 'STORAGE':
        return { code: status.UNAVAILABLE, details: 'keystore storage unavailable' };
      default:
        break;
    }
  }
  return { code: status.INTERNAL, details: 'internal keystore error' };
}
