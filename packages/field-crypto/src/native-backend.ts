// node:crypto backend (spec §4): OpenSSL's chacha20-poly1305 with a 16-byte tag.
// The only file of field-crypto that imports a Node built-in; mod.ts (the Node
// entry) uses it by default, portable.ts never imports it.
import { Buffer } from 'node:buffer';
import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { CipherBackend } from './backend.js';
import { TAG_LENGTH } from './envelope.js';
import { DecryptionError } from './errors.js';
import { xchachaSubkey } from './hchacha-subkey.js';

const AEAD = 'chacha20-poly1305';
const OPTIONS = { authTagLength: TAG_LENGTH } as const;

// XChaCha scratch (alg 2): subkey and 12-byte nonce, the subkey wiped after each call.
const subkey = new Uint8Array(32);
const nonce12 = new Uint8Array(12);

export const nativeBackend: CipherBackend = {
  name: 'native',
  seal(alg, key, nonce, aad, plaintext, out, offset) {
    // alg 2: XChaCha20 = ChaCha20 under an HChaCha20 subkey (spec §4).
    if (alg === 2) xchachaSubkey(key, nonce, subkey, nonce12);
    try {
      const cipher = createCipheriv(AEAD, alg === 1 ? key : subkey, alg === 1 ? nonce : nonce12, OPTIONS);
      cipher.setAAD(aad, { plaintextLength: plaintext.length });
      // node:crypto cannot write into a given buffer: one copy of the ciphertext into the envelope.
      const ciphertext = cipher.update(plaintext);
      out.set(ciphertext, offset);
      cipher.final(); // empty for a stream cipher
      out.set(cipher.getAuthTag(), offset + plaintext.length);
    } finally {
      if (alg === 2) subkey.fill(0);
    }
  },
  // Every byte of an envelope is written (header, nonce, ciphertext, tag), so the
  // zero-fill of `new Uint8Array` is wasted work (about 3% of a 16 KiB seal+open).
  // A plain Uint8Array view, not a Buffer, the same type the noble backend gives.
  // Small envelopes keep `new Uint8Array` (its zero-fill costs nothing there, and
  // a dedicated buffer never shares a slab with other data).
  allocate(length) {
    if (length < 4096) return new Uint8Array(length);
    const b = Buffer.allocUnsafeSlow(length);
    return new Uint8Array(b.buffer, b.byteOffset, length);
  },
  open(alg, key, nonce, aad, sealed) {
    if (sealed.length < TAG_LENGTH) throw new DecryptionError();
    if (alg === 2) xchachaSubkey(key, nonce, subkey, nonce12);
    const tagStart = sealed.length - TAG_LENGTH;
    try {
      const decipher = createDecipheriv(AEAD, alg === 1 ? key : subkey, alg === 1 ? nonce : nonce12, OPTIONS);
      decipher.setAAD(aad, { plaintextLength: tagStart });
      decipher.setAuthTag(sealed.subarray(tagStart));
      const plaintext = decipher.update(sealed.subarray(0, tagStart));
      decipher.final(); // throws when the tag does not verify
      // A plain Uint8Array view (not a Buffer), the same type noble returns.
      return new Uint8Array(plaintext.buffer, plaintext.byteOffset, plaintext.length);
    } catch {
      throw new DecryptionError();
    } finally {
      if (alg === 2) subkey.fill(0);
    }
  },
};
