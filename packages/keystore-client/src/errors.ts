// Typed errors of the keystore client. Stable `code`s; the gRPC status and
// details that caused one stay in `cause` / `grpcCode` (for logs), and no
// message ever holds key bytes.
//
// field-crypto's own UnknownKeyVersionError / UnknownKeyRingError are used when
// the keystore says a version or ring does not exist (or is disabled/destroyed),
// so callers of a KeyProvider see the same errors whatever the provider.

export type KeystoreClientErrorCode = 'KEYSTORE_UNAVAILABLE' | 'KEYSTORE_PERMISSION_DENIED' | 'KEYSTORE_ERROR' | 'DEVICE_ENROLLMENT_REFUSED';

export class KeystoreClientError extends Error {
  readonly code: KeystoreClientErrorCode;
  constructor(code: KeystoreClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * The keystore cannot be reached and the cache has nothing usable: either the
 * key was never fetched, or its entry is older than TTL + grace.
 */
export class KeystoreUnavailableError extends KeystoreClientError {
  constructor(readonly tenant: string, readonly ring: string, options?: { cause?: unknown }) {
    super('KEYSTORE_UNAVAILABLE', `keystore unavailable for tenant ${JSON.stringify(tenant)} ring ${JSON.stringify(ring)}`, options);
  }
}

/** The keystore's policy does not let this identity have the key (PERMISSION_DENIED / UNAUTHENTICATED). */
export class KeystorePermissionDeniedError extends KeystoreClientError {
  constructor(readonly tenant: string, readonly ring: string, options?: { cause?: unknown }) {
    super('KEYSTORE_PERMISSION_DENIED', `keystore denied access to tenant ${JSON.stringify(tenant)} ring ${JSON.stringify(ring)}`, options);
  }
}

/** Any other failure: a malformed response, an invalid request, an unexpected status. */
export class KeystoreResponseError extends KeystoreClientError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('KEYSTORE_ERROR', message, options);
  }
}
