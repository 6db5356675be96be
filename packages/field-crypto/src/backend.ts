// A cipher backend runs the AEAD of spec §4 for alg 1 and alg 2. Three exist,
// byte-identical: native (node:crypto, native-backend.ts), @noble/ciphers
// (noble-backend.ts, no Node built-ins: usable in browsers) and the fast one
// (fast-backend.ts: libsodium WASM for small values, native for large).
import type { SymmetricAlg } from './key-provider.js';
import type { RandomSource } from './random.js';

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
  /**
   * Optional, for string fields (spec §5): the base64url text of the whole
   * envelope of `text` (its UTF-8): `header` (encodeHeader(alg, version)), a
   * fresh nonce from `random`, ciphertext || tag; the same text as seal with
   * the envelope encoded around it. Undefined when this backend declines the
   * value (too large, not ready): the caller then seals it the general way.
   */
  sealText?(alg: SymmetricAlg, header: Uint8Array, key: Uint8Array, aad: Uint8Array, text: string, random: RandomSource): string | undefined;
  /**
   * Optional, for string fields: opens the base64url text of an envelope
   * already checked (canonical, `length` decoded bytes, header read) and
   * returns the value. DecryptionError when not authentic, TypeError when the
   * plaintext is not UTF-8, undefined when declined (the caller opens it the general way).
   */
  openText?(alg: SymmetricAlg, key: Uint8Array, text: string, length: number, aad: Uint8Array): string | undefined;
}
