// node:crypto backend (spec §4): OpenSSL's chacha20-poly1305 with a 16-byte tag.
// The only file of field-crypto that imports a Node built-in; mod.ts (the Node
// entry) uses it by default, portable.ts never imports it.
import { Buffer } from 'node:buffer';
import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { CipherBackend } from './backend.js';
import { assertKeyBytes, TAG_LENGTH } from './envelope.js';
import { DecryptionError } from './errors.js';
import { xchachaSubkey } from './hchacha-subkey.js';

const AEAD = 'chacha20-poly1305';
const OPTIONS = { authTagLength: TAG_LENGTH } as const;

// XChaCha scratch (alg 2): subkey and 12-byte nonce, the subkey wiped after each call.
const subkey = new Uint8Array(32);
const nonce12 = new Uint8Array(12);

// Envelopes of 4 KiB … 32 KiB are carved from shared 256 KiB slabs, the way
// Buffer.allocUnsafe pools small buffers: each ArrayBuffer costs an off-heap
// allocation, GC tracking and a free on a background thread, which at 16 KiB
// was a fifth of a seal+open's CPU time (bench: 78% -> 82-86% of raw node:crypto).
// Envelopes hold ciphertext only, so sharing a slab exposes nothing secret, and
// slabs are zero-filled, so code that reads `.buffer` ignoring the offset sees
// other ciphertext and zeros, never stale heap. The price: one envelope kept
// alive keeps its slab alive (slice() envelopes you keep by the thousand).
const SLAB_SIZE = 256 * 1024;
const SLAB_MAX_ENVELOPE = 32 * 1024;
let slab: Uint8Array | undefined;
let slabOffset = 0;

function fromSlab(length: number): Uint8Array {
  if (slab === undefined || slabOffset + length > SLAB_SIZE) {
    slab = new Uint8Array(SLAB_SIZE);
    slabOffset = 0;
  }
  const view = slab.subarray(slabOffset, slabOffset + length);
  slabOffset += (length + 7) & ~7; // keep every envelope 8-byte aligned
  return view;
}

export const nativeBackend: CipherBackend = {
  name: 'native',
  seal(alg, key, nonce, aad, plaintext, out, offset) {
    assertKeyBytes(key);
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
  // Above the slab range, every byte of an envelope is written (header, nonce,
  // ciphertext, tag), so its buffer skips the zero-fill. Always a plain
  // Uint8Array, not a Buffer: the same type the noble backend gives.
  allocate(length) {
    if (length < 4096) return new Uint8Array(length);
    if (length <= SLAB_MAX_ENVELOPE) return fromSlab(length);
    const b = Buffer.allocUnsafeSlow(length);
    return new Uint8Array(b.buffer, b.byteOffset, length);
  },
  open(alg, key, nonce, aad, sealed) {
    assertKeyBytes(key);
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
