// XChaCha20-Poly1305 reduced to ChaCha20-Poly1305 (spec §4, draft-irtf-cfrg-xchacha §2.3):
// subkey = HChaCha20(key, nonce[0..16]); nonce' = 00000000 || nonce[16..24].
// The HChaCha20 core is @noble/ciphers' exported `hchacha`: no home-made primitive.
import { hchacha } from '@noble/ciphers/chacha.js';

// "expand 32-byte k" (RFC 8439 §2.3) as a word view of its bytes, the form
// noble's hchacha expects on every host (it normalizes word order itself).
const SIGMA = new Uint32Array(new TextEncoder().encode('expand 32-byte k').buffer);
// Scratch space, reused: the derivation is synchronous and single-threaded per isolate.
const keyWords = new Uint32Array(8);
const keyBytes = new Uint8Array(keyWords.buffer);
const nonceWords = new Uint32Array(4);
const nonceBytes = new Uint8Array(nonceWords.buffer);

/**
 * Writes the XChaCha subkey (32 bytes) into `subkey` and the 12-byte
 * ChaCha20 nonce into `nonce12`. `subkey` must be a whole, 4-byte-aligned
 * buffer of 32 bytes (e.g. new Uint8Array(32)).
 */
export function xchachaSubkey(key: Uint8Array, nonce24: Uint8Array, subkey: Uint8Array, nonce12: Uint8Array): void {
  // Byte views of Uint32Arrays: noble's hchacha reads words in host order and
  // normalizes for big-endian hosts itself, so copying bytes in is portable.
  keyBytes.set(key);
  nonceBytes.set(nonce24.subarray(0, 16));
  const out = new Uint32Array(subkey.buffer, subkey.byteOffset, 8);
  hchacha(SIGMA, keyWords, nonceWords, out);
  keyWords.fill(0);
  nonce12[0] = 0;
  nonce12[1] = 0;
  nonce12[2] = 0;
  nonce12[3] = 0;
  nonce12.set(nonce24.subarray(16, 24), 4);
}
