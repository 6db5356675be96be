// Envelope v1 byte layout (spec §1): header (version, alg, key_version),
// nonce, then ciphertext || 16-byte Poly1305 tag. Algs 3 and 4 (HPKE,
// docs/envelope-hpke.md §2) keep the header; in the nonce's place they carry
// enc (alg 3) or pkS || enc (alg 4), then the HPKE ciphertext || tag. The
// header checks here serve every alg; opening HPKE envelopes is hpke-*.ts.
import { EnvelopeFormatError, KeyDestroyedError } from './errors.js';
import type { KeyMaterialAlg, SymmetricAlg } from './key-provider.js';

export const ENVELOPE_VERSION = 0x01;
/** version (1) + alg (1) + key_version (4). */
export const HEADER_LENGTH = 6;
export const TAG_LENGTH = 16;
export const KEY_LENGTH = 32;
/** Largest key_version (u32); 0 is invalid (spec §1). */
export const MAX_KEY_VERSION = 0xffff_ffff;

/** Envelope alg byte: HPKE base mode (docs/envelope-hpke.md §1). */
export const HPKE_BASE_ALG = 0x03;
/** Envelope alg byte: HPKE auth mode, the sender's device key in the envelope (docs/envelope-hpke.md §5). */
export const HPKE_AUTH_ALG = 0x04;
export type HpkeAlg = typeof HPKE_BASE_ALG | typeof HPKE_AUTH_ALG;
/** Every alg a decoder knows: 1, 2 (spec §1) and 3, 4 (docs/envelope-hpke.md). */
export type EnvelopeAlg = SymmetricAlg | HpkeAlg;

export function isHpkeAlg(alg: number): alg is HpkeAlg {
  return alg === HPKE_BASE_ALG || alg === HPKE_AUTH_ALG;
}

/**
 * Spec §4: each key version has one alg, and only envelopes of that alg open
 * with it. A symmetric version (alg 1 or 2) takes envelopes of its own alg;
 * an X25519 version (material alg 3) takes alg 3 and alg 4 envelopes (HPKE
 * base and auth mode, docs/envelope-hpke.md §2).
 */
export function envelopeAlgFitsKey(envelopeAlg: number, keyAlg: KeyMaterialAlg): boolean {
  return keyAlg === HPKE_BASE_ALG ? isHpkeAlg(envelopeAlg) : envelopeAlg === keyAlg;
}

/**
 * Bytes between the header and the ciphertext: the nonce for alg 1/2 (12,
 * 24), enc for alg 3 (32), pkS || enc for alg 4 (64).
 */
export function nonceLength(alg: SymmetricAlg): 12 | 24;
export function nonceLength(alg: EnvelopeAlg): 12 | 24 | 32 | 64;
export function nonceLength(alg: EnvelopeAlg): 12 | 24 | 32 | 64 {
  return alg === 1 ? 12 : alg === 2 ? 24 : alg === HPKE_BASE_ALG ? 32 : 64;
}

/** Minimum envelope length per alg: header + nonce (or enc) + tag (34, 46, 54, 86 for algs 1-4). */
export function minimumLength(alg: EnvelopeAlg): number {
  return HEADER_LENGTH + nonceLength(alg) + TAG_LENGTH;
}

/** Total envelope length for a plaintext of `plaintextLength` bytes. */
export function envelopeLength(alg: EnvelopeAlg, plaintextLength: number): number {
  return HEADER_LENGTH + nonceLength(alg) + plaintextLength + TAG_LENGTH;
}

/** A parsed envelope: views into the original bytes, nothing copied. */
export interface Envelope {
  readonly version: typeof ENVELOPE_VERSION;
  readonly alg: SymmetricAlg;
  readonly keyVersion: number;
  /** Bytes 0‥5, as bound into the AAD (spec §3). */
  readonly header: Uint8Array;
  readonly nonce: Uint8Array;
  /** Ciphertext followed by the 16-byte tag. */
  readonly sealed: Uint8Array;
  /** The whole envelope. */
  readonly bytes: Uint8Array;
}

/** What `fle envelope inspect` shows: the header and lengths, no key needed. */
export interface EnvelopeInfo {
  readonly version: number;
  readonly alg: EnvelopeAlg;
  readonly keyVersion: number;
  /** For alg 3/4: the length of enc (32) or pkS || enc (64). */
  readonly nonceLength: number;
  /** L in spec §1: ciphertext bytes, not counting the 16-byte tag (= plaintext length). */
  readonly ciphertextLength: number;
}

/**
 * Every backend checks the key it is handed, once per call: 32 bytes (spec
 * §2). An empty array is a destroyed key (SecretKey.destroy() detaches the
 * array it handed out): KeyDestroyedError, never a seal under what is left.
 */
export function assertKeyBytes(key: Uint8Array): void {
  if (key.length === KEY_LENGTH) return;
  if (key.length === 0) throw new KeyDestroyedError();
  throw new TypeError(`key must be ${KEY_LENGTH} bytes, got ${key.length}`);
}

export function assertAlg(alg: number): asserts alg is SymmetricAlg {
  if (alg !== 1 && alg !== 2) throw new RangeError(`alg must be 1 or 2, got ${alg}`);
}

export function assertKeyVersion(keyVersion: number): void {
  if (!Number.isInteger(keyVersion) || keyVersion < 1 || keyVersion > MAX_KEY_VERSION) {
    throw new RangeError(`keyVersion must be an integer in 1…${MAX_KEY_VERSION}, got ${keyVersion}`);
  }
}

/** Writes the 6 header bytes (spec §1) at `out[0..6]`. */
export function writeHeader(out: Uint8Array, alg: SymmetricAlg, keyVersion: number): void {
  out[0] = ENVELOPE_VERSION;
  out[1] = alg;
  out[2] = keyVersion >>> 24;
  out[3] = (keyVersion >>> 16) & 0xff;
  out[4] = (keyVersion >>> 8) & 0xff;
  out[5] = keyVersion & 0xff;
}

/** The 6 header bytes for (alg, keyVersion). */
export function encodeHeader(alg: SymmetricAlg, keyVersion: number): Uint8Array {
  const header = new Uint8Array(HEADER_LENGTH);
  writeHeader(header, alg, keyVersion);
  return header;
}

/**
 * Reads and checks the header of `bytes` (spec §1; any alg 1-4). Throws
 * EnvelopeFormatError, before any key lookup, for an unknown version or alg
 * and key_version 0; checkLength then checks the alg's minimum length.
 * `fieldPath` only labels the error.
 */
export function readHeader(bytes: Uint8Array, fieldPath?: string): { alg: EnvelopeAlg; keyVersion: number } {
  if (!(bytes instanceof Uint8Array)) throw new EnvelopeFormatError('envelope must be bytes', fieldPath);
  if (bytes.length < HEADER_LENGTH) {
    throw new EnvelopeFormatError(`envelope too short: ${bytes.length} bytes`, fieldPath);
  }
  if (bytes[0] !== ENVELOPE_VERSION) {
    throw new EnvelopeFormatError(`unknown envelope version ${bytes[0]}`, fieldPath);
  }
  const alg = bytes[1]!;
  if (alg !== 1 && alg !== 2 && !isHpkeAlg(alg)) throw new EnvelopeFormatError(`unknown envelope alg ${alg}`, fieldPath);
  const keyVersion = ((bytes[2]! << 24) | (bytes[3]! << 16) | (bytes[4]! << 8) | bytes[5]!) >>> 0;
  if (keyVersion === 0) throw new EnvelopeFormatError('envelope key version 0 is invalid', fieldPath);
  return { alg, keyVersion };
}

/** Checks the minimum length for the envelope's alg given its total length. */
export function checkLength(alg: EnvelopeAlg, length: number, fieldPath?: string): void {
  const min = minimumLength(alg);
  if (length < min) {
    throw new EnvelopeFormatError(`envelope too short: ${length} bytes, alg ${alg} needs at least ${min}`, fieldPath);
  }
}

/**
 * Parses an alg 1/2 envelope (spec §1) into views; see readHeader for what is
 * rejected. An alg 3/4 envelope is EnvelopeFormatError here: parseHpkeEnvelope reads those.
 */
export function parseEnvelope(bytes: Uint8Array, fieldPath?: string): Envelope {
  const { alg, keyVersion } = readHeader(bytes, fieldPath);
  checkLength(alg, bytes.length, fieldPath);
  if (isHpkeAlg(alg)) throw new EnvelopeFormatError(`envelope alg ${alg} is HPKE, not a symmetric envelope`, fieldPath);
  const nonceEnd = HEADER_LENGTH + nonceLength(alg);
  return {
    version: ENVELOPE_VERSION,
    alg,
    keyVersion,
    header: bytes.subarray(0, HEADER_LENGTH),
    nonce: bytes.subarray(HEADER_LENGTH, nonceEnd),
    sealed: bytes.subarray(nonceEnd),
    bytes,
  };
}

/** Header and lengths of an envelope of any alg, for display (`fle envelope inspect`). */
export function inspectEnvelope(bytes: Uint8Array): EnvelopeInfo {
  const { alg, keyVersion } = readHeader(bytes);
  checkLength(alg, bytes.length);
  return {
    version: ENVELOPE_VERSION,
    alg,
    keyVersion,
    nonceLength: nonceLength(alg),
    ciphertextLength: bytes.length - minimumLength(alg),
  };
}
