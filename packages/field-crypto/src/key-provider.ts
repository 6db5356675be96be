// How keys reach field-crypto: a small interface, no I/O here.
// keystore-client implements it over mTLS gRPC; tests use StaticKeyProvider.
import { KeyDestroyedError } from './errors.js';

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

const NO_BYTES = new Uint8Array(0);

/**
 * 32 secret bytes that redact themselves from toString/JSON/inspect (Tink habit),
 * so a logged object never carries key material.
 *
 * A key dies when destroyed: destroy() zeroes the bytes and detaches their
 * buffer, after which every use (exposeBytes, and so every seal and open)
 * throws KeyDestroyedError. A holder that drops a key other operations may
 * still be using (a cache evicting it) calls retire() instead: the key is
 * destroyed as soon as no operation holds it (acquire/release).
 */
export class SecretKey {
  #bytes: Uint8Array;
  #destroyed = false;
  #retired = false;
  /** Operations between acquire() and release(). */
  #users = 0;

  constructor(bytes: Uint8Array) {
    if (!(bytes instanceof Uint8Array) || bytes.length !== 32) {
      throw new TypeError(`key must be 32 bytes, got ${bytes instanceof Uint8Array ? bytes.length : typeof bytes}`);
    }
    // An array of its own (whole buffer): destroy() can detach it without touching the caller's.
    this.#bytes = Uint8Array.from(bytes);
  }

  /**
   * The raw key: the live array, not a copy (a copy would be one more place
   * to wipe, which destroy() could not reach). It is valid until destroy():
   * that zeroes it and detaches its buffer, so a reference kept past destroy()
   * is an empty array, which every backend refuses (a key is 32 bytes), never
   * an all-zero key. Callers must not log it, copy it into errors, or keep it.
   * Throws KeyDestroyedError once destroyed.
   */
  exposeBytes(): Uint8Array {
    if (this.#destroyed) throw new KeyDestroyedError();
    return this.#bytes;
  }

  /** True once destroy() ran (directly, or through retire()). */
  get destroyed(): boolean {
    return this.#destroyed;
  }

  /**
   * Zeroes the key bytes and detaches their buffer, now (best effort: JS
   * cannot promise no other copies exist). Every later use throws
   * KeyDestroyedError, also for an operation that acquired it (see retire()).
   */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    const bytes = this.#bytes;
    bytes.fill(0);
    this.#bytes = NO_BYTES;
    try {
      // Transferring the buffer detaches it: every view of it, such as an
      // array exposeBytes() handed out, becomes empty.
      structuredClone(bytes.buffer, { transfer: [bytes.buffer] });
    } catch {
      // A buffer that cannot be transferred is left zeroed.
    }
  }

  /**
   * Marks one operation as using the key (FieldCipher does, for as long as a
   * message's seal or open spans an await): retire() then waits for release().
   * Throws KeyDestroyedError when the key is already destroyed.
   */
  acquire(): void {
    if (this.#destroyed) throw new KeyDestroyedError();
    this.#users++;
  }

  /** Ends one acquire(); destroys a retired key when no operation holds it any more. */
  release(): void {
    if (this.#users > 0) this.#users--;
    if (this.#retired && this.#users === 0) this.destroy();
  }

  /**
   * Destroys the key as soon as no operation holds it: at once when none
   * does, else at the last release(). For a holder (a key cache) that drops a
   * key others may be in the middle of using.
   */
  retire(): void {
    this.#retired = true;
    if (this.#users === 0) this.destroy();
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
