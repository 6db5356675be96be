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
  | 'AUDIT'
  | 'AUDIT_CHAIN'
  | 'RECORD_INTEGRITY'
  | 'RECORD_ROLLBACK'
  | 'RECORDS_UNSEALED'
  | 'ENROLLMENT_TOKEN'
  | 'RESOURCE_LIMIT';

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

/** The audit log's hash chain is broken (audit.ts): it cannot anchor anything any more. */
export class AuditChainError extends KeystoreError {
  constructor(message: string) {
    super('AUDIT_CHAIN', message);
  }
}

/**
 * A ring record in storage does not authenticate under this master key
 * (record-auth.ts): it was edited outside the keystore, or stripped of its tag.
 * Served as DATA_LOSS; the record is never used.
 */
export class RecordIntegrityError extends KeystoreError {
  constructor(message: string) {
    super('RECORD_INTEGRITY', message);
  }
}

/**
 * A ring record authenticates but is older than one this keystore already
 * saw or wrote (its generation is behind the audit log's): an old copy was put
 * back. Served as DATA_LOSS; the record is never used.
 */
export class RecordRollbackError extends KeystoreError {
  constructor(message: string) {
    super('RECORD_ROLLBACK', message);
  }
}

/** The store holds records written before records were authenticated: `fle keystore seal-records` once. */
export class UnsealedRecordsError extends KeystoreError {
  constructor(message: string) {
    super('RECORDS_UNSEALED', message);
  }
}

/**
 * A device enrollment token was refused (device-model.ts): not one this
 * tenant issued (or not for this tenant), expired, or used already. Served as
 * PERMISSION_DENIED; the message never holds the token's secret.
 */
export class EnrollmentTokenError extends KeystoreError {
  constructor(readonly reason: 'invalid' | 'expired' | 'used', message: string) {
    super('ENROLLMENT_TOKEN', message);
  }
}

/** A per-tenant limit (devices, open enrollment tokens) is reached: RESOURCE_EXHAUSTED. */
export class ResourceLimitError extends KeystoreError {
  constructor(message: string) {
    super('RESOURCE_LIMIT', message);
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
      case 'ENROLLMENT_TOKEN':
        return { code: status.PERMISSION_DENIED, details: err.message };
      case 'RESOURCE_LIMIT':
        return { code: status.RESOURCE_EXHAUSTED, details: err.message };
      case 'CONFLICT':
        return { code: status.ABORTED, details: 'concurrent update, retry' };
      case 'STORAGE':
        return { code: status.UNAVAILABLE, details: 'keystore storage unavailable' };
      // The caller may fetch this ring (policy is decided first): it learns the ring is unusable, not why in detail.
      case 'RECORD_INTEGRITY':
      case 'RECORD_ROLLBACK':
        return { code: status.DATA_LOSS, details: err.message };
      default:
        break;
    }
  }
  return { code: status.INTERNAL, details: 'internal keystore error' };
}
