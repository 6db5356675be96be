// Typed errors of @fle/records. Each has a stable `code`; messages name keys,
// stores and types, never a record's value (STYLE.md errors).

export type RecordErrorCode =
  | 'RECORD_FORMAT'
  | 'RECORD_TYPE'
  | 'RECORD_IDENTITY'
  | 'RECORD_EXISTS'
  | 'RECORD_CONFLICT'
  | 'RECORD_STORE_UNAVAILABLE';

export class RecordError extends Error {
  readonly code: RecordErrorCode;
  constructor(code: RecordErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The stored bytes are not a sealed record (docs/records.md "Stored form"). */
export class RecordFormatError extends RecordError {
  constructor(message: string) {
    super('RECORD_FORMAT', `not a sealed record: ${message}`);
  }
}

/** The record holds another message type than the one asked for. */
export class RecordTypeError extends RecordError {
  constructor(readonly expected: string, readonly found: string) {
    super('RECORD_TYPE', `record holds ${found}, expected ${expected}`);
  }
}

/** A store name or record key that cannot be part of a record's identity (docs/records.md "Binding"). */
export class RecordIdentityError extends RecordError {
  constructor(message: string) {
    super('RECORD_IDENTITY', message);
  }
}

/** `create` found a record under the key already. */
export class RecordExistsError extends RecordError {
  constructor(readonly key: string) {
    super('RECORD_EXISTS', `a record already exists under key ${JSON.stringify(key)}`);
  }
}

/** `update` (or `delete`) was given a revision that is no longer the record's latest: someone wrote it meanwhile. */
export class RecordConflictError extends RecordError {
  constructor(readonly key: string, readonly revision: number) {
    super('RECORD_CONFLICT', `record ${JSON.stringify(key)} changed since revision ${revision}`);
  }
}

/** NATS KV did not answer (or refused) a read or write. */
export class RecordStoreUnavailableError extends RecordError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('RECORD_STORE_UNAVAILABLE', message, options);
  }
}
