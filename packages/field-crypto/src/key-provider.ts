// How keys reach field-crypto: a small interface, no I/O here.
// keystore-client implements it over mTLS gRPC; tests use StaticKeyProvider.

/** Envelope alg byte (spec §1): 1 = ChaCha20-Poly1305, 2 = XChaCha20-Poly1305. */
export type SymmetricAlg = 1 | 2;

/**
 * What a key version is used with: a symmetric key (1, 2), or 3 for the
 * private key of an X25519 key ring (HPKE, envelope alg 3/4, docs/envelope-hpke.md).
 */
export type KeyMaterialAlg = SymmetricAlg | 3;

/** A tenant's key ring: where a key version lives. */
export interface KeyRingRef {
  readonly tenant: string;
  /** "default" unless the field's `(fle.v1.key_ring)` option names another. */
  readonly ring: string;
}

/**
 * 32 secret bytes that redact themselves from toString/JSON/inspect (Tink habit),
 * so a logged object never carries key material.
 */
export class SecretKey {
  readonly #bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    if (!(bytes instanceof Uint8Array) || bytes.length !== 32) {
      throw new TypeError(`key must be 32 bytes, got ${bytes instanceof Uint8Array ? bytes.length : typeof bytes}`);
    }
    this.#bytes = Uint8Array.from(bytes);
  }
  /** The raw key. Callers must not log, copy into errors, or keep it longer than needed. */
  exposeBytes(): Uint8Array {
    return this.#bytes;
  }
  /** Overwrite the key bytes (best effort: JS cannot promise no copies exist). */
  destroy(): void {
    this.#bytes.fill(0);
  }
  toString(): string {
    return 'SecretKey(<redacted>)';
  }
  toJSON(): string {
    return '<redacted>';
  }
  // node:util's inspect.custom, without importing node:util (browsers use this file too).
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return 'SecretKey(<redacted>)';
  }
}

/** One version of a key ring, usable for sealing (if primary) or opening. */
export interface KeyVersionMaterial {
  /** 1 … 2^32-1, travels in the envelope header. */
  readonly version: number;
  readonly alg: KeyMaterialAlg;
  /** The 32-byte symmetric key, or (alg 3) the 32-byte X25519 private key. */
  readonly key: SecretKey;
}

export interface KeyProvider {
  /** The version to seal with: the ring's single primary. */
  primaryKey(ref: KeyRingRef): Promise<KeyVersionMaterial>;
  /**
   * The given version, to open with. Throws UnknownKeyVersionError when the ring
   * has no such version (or it is disabled/destroyed).
   */
  keyVersion(ref: KeyRingRef, version: number): Promise<KeyVersionMaterial>;
  /**
   * Optional fast path: what primaryKey would return, when it can be had now
   * without I/O (a fresh cache entry); undefined sends the caller to primaryKey.
   * Lets FieldCipher seal a message without waiting a turn of the event loop.
   */
  cachedPrimaryKey?(ref: KeyRingRef): KeyVersionMaterial | undefined;
  /** Optional fast path for keyVersion, as cachedPrimaryKey is for primaryKey. */
  cachedKeyVersion?(ref: KeyRingRef, version: number): KeyVersionMaterial | undefined;
}
