// Typed errors of field-crypto. Each has a stable `code`; messages never hold
// plaintext, keys or nonces. Mapping to gRPC status lives in the services, in
// one function, keyed by `code`.

export type FieldCryptoErrorCode =
  | 'ENVELOPE_FORMAT'
  | 'DECRYPTION_FAILED'
  | 'UNKNOWN_KEY_VERSION'
  | 'SCHEMA'
  | 'PLAINTEXT_IN_SENSITIVE_FIELD';

export class FieldCryptoError extends Error {
  readonly code: FieldCryptoErrorCode;
  constructor(code: FieldCryptoErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The bytes are not an envelope v1 (spec §1): rejected before any key lookup. */
export class EnvelopeFormatError extends FieldCryptoError {
  constructor(message: string, readonly fieldPath?: string) {
    super('ENVELOPE_FORMAT', fieldPath ? `${message} (field ${fieldPath})` : message);
  }
}

/**
 * Authentication failed. One opaque message on purpose: wrong key, tampered
 * bytes and a moved envelope (other tenant/type/field/context) look the same.
 */
export class DecryptionError extends FieldCryptoError {
  constructor(readonly fieldPath?: string) {
    super('DECRYPTION_FAILED', fieldPath ? `decryption failed (field ${fieldPath})` : 'decryption failed');
  }
}

/** The key provider does not know the envelope's key version. */
export class UnknownKeyVersionError extends FieldCryptoError {
  constructor(readonly tenant: string, readonly ring: string, readonly version: number) {
    super('UNKNOWN_KEY_VERSION', `unknown key version ${version} for tenant ${JSON.stringify(tenant)} ring ${JSON.stringify(ring)}`);
  }
}

/** The schema cannot be used: a bad `sensitive` mark, a missing tenant field. */
export class SchemaError extends FieldCryptoError {
  constructor(message: string) {
    super('SCHEMA', message);
  }
}

/** A sensitive field holds something that is not an envelope (gateway check). */
export class PlaintextInSensitiveFieldError extends FieldCryptoError {
  constructor(readonly fieldPath: string, readonly fieldName: string) {
    super('PLAINTEXT_IN_SENSITIVE_FIELD', `field ${fieldName} (${fieldPath}) is marked sensitive but does not hold an envelope`);
  }
}
