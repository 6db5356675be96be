// A cipher backend runs the AEAD of spec §4 for alg 1 and alg 2. Two exist,
// byte-identical: native (node:crypto, native-backend.ts) and @noble/ciphers
// (noble-backend.ts, no Node built-ins: usable in browsers).
import type { SymmetricAlg } from './key-provider.js';

export interface CipherBackend {
  /** 'native' or 'noble'; shows in benchmarks, never in envelopes. */
  readonly name: string;
  /**
   * Encrypts `plaintext` and writes ciphertext || tag into `out` at `offset`
   * (plaintext.length + 16 bytes; `out` is usually the whole envelope, so
   * nothing is copied twice). `key` is 32 bytes, `nonce` 12 (alg 1) or 24 (alg 2).
   */
  seal(alg: SymmetricAlg, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, out: Uint8Array, offset: number): void;
  /**
   * Verifies and decrypts `sealed` (ciphertext || tag). Any failure throws
   * DecryptionError with its one opaque message.
   */
  open(alg: SymmetricAlg, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array;
  /**
   * Optional: a new array of `length` bytes whose content the caller overwrites
   * entirely (an envelope). The native backend skips zero-filling it; the
   * default is `new Uint8Array(length)`.
   */
  allocate?(length: number): Uint8Array;
  /**
   * Optional: like open, but the plaintext may be a view of the backend's own
   * working memory, valid until its next call. The caller reads it at once and
   * must wipe it (fill(0)) before anything else runs: FieldCipher does this for
   * string fields, whose bytes only live until they are decoded to text.
   */
  openTransient?(alg: SymmetricAlg, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array;
}
