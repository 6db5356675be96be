// @noble/ciphers backend (spec §4): audited pure JS, no Node built-ins, so the
// portable entry (portable.ts) and browsers use it.
import { chacha20poly1305, xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import type { CipherBackend } from './backend.js';
import { assertKeyBytes } from './envelope.js';
import { DecryptionError } from './errors.js';

export const nobleBackend: CipherBackend = {
  name: 'noble',
  seal(alg, key, nonce, aad, plaintext, out, offset) {
    assertKeyBytes(key);
    const aead = alg === 1 ? chacha20poly1305 : xchacha20poly1305;
    // noble writes into the envelope directly: no intermediate ciphertext buffer.
    aead(key, nonce, aad).encrypt(plaintext, out.subarray(offset, offset + plaintext.length + 16));
  },
  open(alg, key, nonce, aad, sealed) {
    assertKeyBytes(key);
    const aead = alg === 1 ? chacha20poly1305 : xchacha20poly1305;
    try {
      return aead(key, nonce, aad).decrypt(sealed);
    } catch {
      // One opaque error for every failure (STYLE: a decryption failure has one message).
      throw new DecryptionError();
    }
  },
};
