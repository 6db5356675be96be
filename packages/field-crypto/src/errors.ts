// Typed errors of field-crypto. Each has a stable `code`; messages never hold
// plaintext, keys or nonces. Mapping to gRPC status lives in the services, in
// one function, keyed by `code`.

export type FieldCryptoErrorCode =
  | 'ENVELOPE_FORMAT'
  | 'DECRYPTION_FAILED'
  | 'UNKNOWN_KEY_VERSION'
  | 'UNKNOWN_KEY_RING'
  | 'SCHEMA'
  | 'PLAINTEXT_IN_SENSITIVE_FIELD'
  | 'MISSING_TENANT'
  | 'INVALID_FIELD_VALUE'
  | 'UNKNOWN_SENDER'
  | 'KEY_DESTROYED'
  | 'WIRE_FORMAT'
  | 'TOO_MANY_ENVELOPES';

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
 * Subclasses and `cause` tell a server log why; the code and message never do.
 */
export class DecryptionError extends FieldCryptoError {
  constructor(readonly fieldPath?: string, options?: { cause?: unknown }) {
    super('DECRYPTION_FAILED', fieldPath ? `decryption failed (field ${fieldPath})` : 'decryption failed', options);
  }
}

/**
 * The envelope's alg is not the alg of the key version it names (spec §4:
 * each key version has one alg), refused before any decryption. Callers see
 * the opaque DECRYPTION_FAILED of a forged envelope; the algs are for logs.
 */
export class KeyAlgMismatchError extends DecryptionError {
  constructor(fieldPath: string | undefined, readonly envelopeAlg: number, readonly keyAlg: number) {
    super(fieldPath);
  }
}

/**
 * A key was used after SecretKey.destroy() (or retire() once unused): its
 * bytes are gone, and nothing is sealed or opened under what is left.
 */
export class KeyDestroyedError extends FieldCryptoError {
  constructor() {
    super('KEY_DESTROYED', 'key was destroyed');
  }
}

/** The key provider does not know the envelope's key version. */
export class UnknownKeyVersionError extends FieldCryptoError {
  constructor(readonly tenant: string, readonly ring: string, readonly version: number) {
    super('UNKNOWN_KEY_VERSION', `unknown key version ${version} for tenant ${JSON.stringify(tenant)} ring ${JSON.stringify(ring)}`);
  }
}

/** The key provider has no such key ring for the tenant (or no primary version in it). */
export class UnknownKeyRingError extends FieldCryptoError {
  constructor(readonly tenant: string, readonly ring: string) {
    super('UNKNOWN_KEY_RING', `no usable key ring ${JSON.stringify(ring)} for tenant ${JSON.stringify(tenant)}`);
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

/**
 * The message's tenant field is empty: the tenant picks the key ring and is
 * bound into every field's AAD (spec §3), so nothing can be sealed or opened.
 */
export class MissingTenantError extends FieldCryptoError {
  constructor(readonly typeName: string, readonly tenantField: string) {
    super('MISSING_TENANT', `message ${typeName} has an empty tenant field ${tenantField}`);
  }
}

/**
 * A sensitive field holds a value of the wrong JS type for its proto type
 * (e.g. a number where the schema says string). Names the field, never the value.
 */
export class InvalidFieldValueError extends FieldCryptoError {
  constructor(readonly fieldPath: string, readonly fieldName: string, expected: string) {
    super('INVALID_FIELD_VALUE', `field ${fieldName} (${fieldPath}) must hold ${expected}`);
  }
}

/** The message was changed by its owner while sealMessage was waiting for keys (a caller bug). */
export class MessageChangedError extends FieldCryptoError {
  constructor(readonly fieldPath: string) {
    super('INVALID_FIELD_VALUE', `field ${fieldPath} changed while the message was being sealed`);
  }
}

/**
 * The bytes of a message are not exactly what a decoder's view shows (wire-check.ts):
 * an unknown field, a repeated non-repeated field or map key, another wire type.
 * Names the message type and field number, never a value.
 */
export class WireFormatError extends FieldCryptoError {
  constructor(readonly typeName: string, readonly fieldNumber: number, what: string, wholeMessage = false) {
    super('WIRE_FORMAT', wholeMessage ? `message ${typeName} ${what}` : `field ${fieldNumber} of ${typeName} ${what}`);
  }
}

/** A message carries more sensitive values than the configured cap (`maxEnvelopes`). */
export class TooManyEnvelopesError extends FieldCryptoError {
  constructor(readonly max: number) {
    super('TOO_MANY_ENVELOPES', `message carries more than ${max} sensitive values`);
  }
}
