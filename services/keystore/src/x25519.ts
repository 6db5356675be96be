// X25519 public keys of the private keys an x25519 ring wraps (RFC 7748),
// computed by node:crypto (OpenSSL) whenever one is served: the keystore never
// stores a public key, so a tampered store cannot pair a private key with
// someone else's public key.
import { createPrivateKey, createPublicKey } from 'node:crypto';

/** DER of PKCS#8 PrivateKeyInfo for id-X25519 (RFC 8410 §7) up to the 32 key bytes. */
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/** pk(sk) for a 32-byte X25519 private key. */
export function x25519PublicKeyOf(privateKey: Uint8Array): Uint8Array {
  if (privateKey.length !== 32) throw new TypeError(`X25519 private key must be 32 bytes, got ${privateKey.length}`);
  const der = Buffer.concat([PKCS8_X25519_PREFIX, privateKey]);
  try {
    const spki = createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })).export({ format: 'der', type: 'spki' });
    // SubjectPublicKeyInfo for X25519 ends with the 32 public key bytes (RFC 8410 §4).
    return new Uint8Array(spki.subarray(spki.length - 32));
  } finally {
    der.fill(0);
  }
}
