// The one HPKE suite of envelope alg 3 and 4 (docs/envelope-hpke.md §2):
// RFC 9180 DHKEM(X25519, HKDF-SHA256) (KEM 0x0020), HKDF-SHA256 (KDF 0x0001),
// ChaCha20-Poly1305 (AEAD 0x0003), from the @hpke/* packages. Nothing here is
// home-made: the suite, key import and the X25519 public key derivation are
// library calls. No Node built-in is imported (browsers use this file).
import { CipherSuite, DhkemX25519HkdfSha256 as WebCryptoDhkemX25519, HkdfSha256 } from '@hpke/core';
import { Chacha20Poly1305 } from '@hpke/chacha20poly1305';
import { DhkemX25519HkdfSha256 as NobleDhkemX25519 } from '@hpke/dhkem-x25519';
import { x25519 } from '@noble/curves/ed25519.js';

/** Npk, Nsk and Nenc of DHKEM(X25519, HKDF-SHA256) (RFC 9180 §7.1). */
export const X25519_KEY_LENGTH = 32;
export const HPKE_ENC_LENGTH = 32;
/** ChaCha20-Poly1305 tag (RFC 9180 §7.3, Nt). */
export const HPKE_TAG_LENGTH = 16;

/** The RFC 9180 `info` of every fle envelope: ASCII "fle.v1.hpke" (domain separation, RFC 9180 §8.1). */
export const HPKE_INFO = Uint8Array.of(0x66, 0x6c, 0x65, 0x2e, 0x76, 0x31, 0x2e, 0x68, 0x70, 0x6b, 0x65);

/** RFC 9180 identifiers of the suite (KEM, KDF, AEAD). */
export const HPKE_SUITE_IDS = { kem: 0x0020, kdf: 0x0001, aead: 0x0003 } as const;

/**
 * Where X25519 runs. Both give the same bytes (RFC 9180 vectors pass on both):
 * - `noble`: pure JS (@hpke/dhkem-x25519, @noble/curves): every browser; the default.
 * - `webcrypto`: the platform's Web Crypto X25519 (@hpke/core): about twice as
 *   fast on Node 20; browsers without Web Crypto X25519 throw NotSupportedError.
 */
export type HpkeKemImpl = 'noble' | 'webcrypto';

const suites = new Map<HpkeKemImpl, CipherSuite>();

/** The fle HPKE suite (one instance per KEM implementation, created on first use). */
export function hpkeSuite(impl: HpkeKemImpl = 'noble'): CipherSuite {
  let suite = suites.get(impl);
  if (!suite) {
    if (impl !== 'noble' && impl !== 'webcrypto') throw new RangeError(`HPKE KEM implementation must be noble or webcrypto, got ${String(impl)}`);
    const kem = impl === 'noble' ? new NobleDhkemX25519() : new WebCryptoDhkemX25519();
    suite = new CipherSuite({ kem, kdf: new HkdfSha256(), aead: new Chacha20Poly1305() });
    suites.set(impl, suite);
  }
  return suite;
}

export function assertX25519Key(key: Uint8Array, name: string): void {
  if (!(key instanceof Uint8Array) || key.length !== X25519_KEY_LENGTH) {
    throw new TypeError(`${name} must be ${X25519_KEY_LENGTH} bytes, got ${key instanceof Uint8Array ? key.length : typeof key}`);
  }
}

/** pk(sk): the X25519 public key of a 32-byte private key (RFC 7748 §6.1, @noble/curves). */
export function x25519PublicKey(privateKey: Uint8Array): Uint8Array {
  assertX25519Key(privateKey, 'private key');
  return x25519.getPublicKey(privateKey);
}

/**
 * A fresh X25519 key pair from the platform CSPRNG (Web Crypto
 * getRandomValues via @noble/curves), e.g. a device key for auth mode.
 */
export function generateX25519KeyPair(): { privateKey: Uint8Array; publicKey: Uint8Array } {
  const privateKey = x25519.utils.randomSecretKey();
  return { privateKey, publicKey: x25519.getPublicKey(privateKey) };
}
