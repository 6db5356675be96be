// Sealing and opening one value as an envelope v1 (spec §1-§4), given the key.
// The field walk (field-cipher.ts) uses sealRaw/openRaw with AADs it builds
// from cached parts; sealEnvelope/openEnvelope are the checked, one-off form
// (CLI, tests, other languages' vectors).
import { buildAadView, type AadBinding } from './aad.js';
import type { CipherBackend } from './backend.js';
import { KeyAlgMismatchError } from './errors.js';
import {
  assertAlg,
  assertKeyVersion,
  envelopeAlgFitsKey,
  envelopeLength,
  HEADER_LENGTH,
  KEY_LENGTH,
  parseEnvelope,
  writeHeader,
  type Envelope,
} from './envelope.js';
import { SecretKey, type KeyMaterialAlg, type SymmetricAlg } from './key-provider.js';
import { defaultRandom, fillFrom, type RandomSource } from './random.js';

/**
 * Writes one envelope at the start of `out` (at least
 * envelopeLength(alg, plaintext.length) bytes): header, a fresh nonce from
 * `random`, then the backend writes ciphertext || tag straight after them.
 * `header` must be encodeHeader(alg, keyVersion) and `aad` built over it.
 * `nonceView`, if given, returns a (cached) view of out[6..6+n).
 */
export function sealInto(
  out: Uint8Array,
  backend: CipherBackend,
  alg: SymmetricAlg,
  header: Uint8Array,
  key: Uint8Array,
  aad: Uint8Array,
  random: RandomSource,
  plaintext: Uint8Array,
  nonceView?: (out: Uint8Array, n: number) => Uint8Array,
): void {
  const nl = alg === 1 ? 12 : 24;
  for (let i = 0; i < HEADER_LENGTH; i++) out[i] = header[i]!;
  fillFrom(random, out, HEADER_LENGTH, nl);
  const nonce = nonceView ? nonceView(out, nl) : out.subarray(HEADER_LENGTH, HEADER_LENGTH + nl);
  backend.seal(alg, key, nonce, aad, plaintext, out, HEADER_LENGTH + nl);
}

/** sealInto a new array: one allocation per envelope. */
export function sealRaw(
  backend: CipherBackend,
  alg: SymmetricAlg,
  header: Uint8Array,
  key: Uint8Array,
  aad: Uint8Array,
  random: RandomSource,
  plaintext: Uint8Array,
): Uint8Array {
  const length = envelopeLength(alg, plaintext.length);
  const out = backend.allocate ? backend.allocate(length) : new Uint8Array(length);
  sealInto(out, backend, alg, header, key, aad, random, plaintext);
  return out;
}

/** Opens a parsed envelope with the AAD built over its own header. Throws DecryptionError. */
export function openRaw(backend: CipherBackend, env: Envelope, key: Uint8Array, aad: Uint8Array): Uint8Array {
  return backend.open(env.alg, key, env.nonce, aad, env.sealed);
}

function keyBytes(key: SecretKey | Uint8Array): Uint8Array {
  const bytes = key instanceof SecretKey ? key.exposeBytes() : key;
  if (!(bytes instanceof Uint8Array) || bytes.length !== KEY_LENGTH) {
    throw new TypeError(`key must be ${KEY_LENGTH} bytes`);
  }
  return bytes;
}

export interface SealEnvelopeOptions {
  readonly backend: CipherBackend;
  readonly key: SecretKey | Uint8Array;
  /** 1 … 2^32-1, written into the header. */
  readonly keyVersion: number;
  /**
   * 1 = ChaCha20-Poly1305, 2 = XChaCha20-Poly1305 (a KeyVersionMaterial's alg
   * can be passed as is: 3, an X25519 key, is a RangeError here, see sealHpkeEnvelope).
   */
  readonly alg: KeyMaterialAlg;
  /** Where the envelope belongs (spec §3). */
  readonly binding: AadBinding;
  /** Nonce source; default: the pooled CSPRNG. Inject only for test vectors. */
  readonly random?: RandomSource;
}

/** The header of the envelope sealEnvelope is making: read only within that synchronous call. */
const sealHeader = new Uint8Array(HEADER_LENGTH);

/** Seals `plaintext` into a binary envelope v1. */
export function sealEnvelope(plaintext: Uint8Array, opts: SealEnvelopeOptions): Uint8Array {
  if (!(plaintext instanceof Uint8Array)) throw new TypeError('plaintext must be a Uint8Array');
  assertAlg(opts.alg);
  assertKeyVersion(opts.keyVersion);
  const header = sealHeader;
  writeHeader(header, opts.alg, opts.keyVersion);
  const aad = buildAadView(header, opts.binding);
  return sealRaw(opts.backend, opts.alg, header, keyBytes(opts.key), aad, opts.random ?? defaultRandom, plaintext);
}

export interface OpenEnvelopeOptions {
  readonly backend: CipherBackend;
  /** The key of the envelope's key version (see parseEnvelope(...).keyVersion). */
  readonly key: SecretKey | Uint8Array;
  readonly binding: AadBinding;
  /**
   * The alg of the key version (spec §4: a version has one alg). When given,
   * an envelope of another alg is refused (KeyAlgMismatchError) before any
   * decryption; a caller holding a KeyVersionMaterial passes its `alg`.
   */
  readonly keyAlg?: KeyMaterialAlg;
}

/**
 * Opens a binary envelope v1. Format problems throw EnvelopeFormatError (before
 * the key is touched); an alg other than `keyAlg` KeyAlgMismatchError; a wrong
 * key or binding, or tampering, DecryptionError.
 */
export function openEnvelope(envelope: Uint8Array | Envelope, opts: OpenEnvelopeOptions): Uint8Array {
  const env = envelope instanceof Uint8Array ? parseEnvelope(envelope) : envelope;
  if (opts.keyAlg !== undefined && !envelopeAlgFitsKey(env.alg, opts.keyAlg)) throw new KeyAlgMismatchError(undefined, env.alg, opts.keyAlg);
  const aad = buildAadView(env.header, opts.binding);
  return openRaw(opts.backend, env, keyBytes(opts.key), aad);
}
