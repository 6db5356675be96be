// Envelope alg 3 (HPKE base mode) and alg 4 (HPKE auth mode), one value at a
// time (docs/envelope-hpke.md). The header and the AAD are envelope v1's
// (shared/spec/envelope-v1.md §1, §3); the AAD goes to HPKE as its `aad`:
//
//   alg 3:  header(6) || enc(32)           || ct || tag(16)     minimum 54 bytes
//   alg 4:  header(6) || pkS(32) || enc(32) || ct || tag(16)    minimum 86 bytes
//
// Each envelope is one RFC 9180 single-shot Seal (§6.1) with info = HPKE_INFO:
// a fresh ephemeral key per envelope, sequence number 0 only.
import { buildAad, type AadBinding } from './aad.js';
import { HPKE_AUTH_ALG, HPKE_BASE_ALG, isHpkeAlg, type HpkeAlg } from './envelope.js';
import { DecryptionError, EnvelopeFormatError } from './errors.js';
import { assertX25519Key, HPKE_ENC_LENGTH, HPKE_INFO, HPKE_TAG_LENGTH, hpkeSuite, X25519_KEY_LENGTH, type HpkeKemImpl } from './hpke-suite.js';
import { SecretKey } from './key-provider.js';

const VERSION = 0x01;
const HEADER = 6;
const MAX_KEY_VERSION = 0xffff_ffff;

/** Bytes between the header and the HPKE ciphertext: enc (alg 3) or pkS || enc (alg 4). */
export function hpkePrefixLength(alg: HpkeAlg): number {
  return alg === HPKE_AUTH_ALG ? X25519_KEY_LENGTH + HPKE_ENC_LENGTH : HPKE_ENC_LENGTH;
}

/** Minimum envelope length (empty plaintext): 54 for alg 3, 86 for alg 4. */
export function hpkeMinimumLength(alg: HpkeAlg): number {
  return HEADER + hpkePrefixLength(alg) + HPKE_TAG_LENGTH;
}

/** Total envelope length for a plaintext of `plaintextLength` bytes. */
export function hpkeEnvelopeLength(alg: HpkeAlg, plaintextLength: number): number {
  return hpkeMinimumLength(alg) + plaintextLength;
}

/** A parsed alg 3/4 envelope: views into the original bytes, nothing copied. */
export interface HpkeEnvelope {
  readonly alg: HpkeAlg;
  readonly keyVersion: number;
  /** Bytes 0‥5, as bound into the AAD. */
  readonly header: Uint8Array;
  /** alg 4 only: the sealing device's X25519 public key (pkS). */
  readonly senderPublicKey: Uint8Array | undefined;
  /** The encapsulated key (RFC 9180 `enc`, the serialized ephemeral public key). */
  readonly enc: Uint8Array;
  /** HPKE ciphertext: ChaCha20-Poly1305 ciphertext || 16-byte tag. */
  readonly ct: Uint8Array;
  readonly bytes: Uint8Array;
}

/**
 * Parses an alg 3/4 envelope (docs/envelope-hpke.md §3). Throws
 * EnvelopeFormatError, before any key is looked up, for another version, an
 * alg other than 3/4, key_version 0 and a length below the alg's minimum.
 */
export function parseHpkeEnvelope(bytes: Uint8Array, fieldPath?: string): HpkeEnvelope {
  if (!(bytes instanceof Uint8Array)) throw new EnvelopeFormatError('envelope must be bytes', fieldPath);
  if (bytes.length < HEADER) throw new EnvelopeFormatError(`envelope too short: ${bytes.length} bytes`, fieldPath);
  if (bytes[0] !== VERSION) throw new EnvelopeFormatError(`unknown envelope version ${bytes[0]}`, fieldPath);
  const alg = bytes[1]!;
  if (!isHpkeAlg(alg)) throw new EnvelopeFormatError(`envelope alg ${alg} is not an HPKE alg`, fieldPath);
  const keyVersion = ((bytes[2]! << 24) | (bytes[3]! << 16) | (bytes[4]! << 8) | bytes[5]!) >>> 0;
  if (keyVersion === 0) throw new EnvelopeFormatError('envelope key version 0 is invalid', fieldPath);
  const min = hpkeMinimumLength(alg);
  if (bytes.length < min) {
    throw new EnvelopeFormatError(`envelope too short: ${bytes.length} bytes, alg ${alg} needs at least ${min}`, fieldPath);
  }
  const encAt = alg === HPKE_AUTH_ALG ? HEADER + X25519_KEY_LENGTH : HEADER;
  return {
    alg,
    keyVersion,
    header: bytes.subarray(0, HEADER),
    senderPublicKey: alg === HPKE_AUTH_ALG ? bytes.subarray(HEADER, encAt) : undefined,
    enc: bytes.subarray(encAt, encAt + HPKE_ENC_LENGTH),
    ct: bytes.subarray(encAt + HPKE_ENC_LENGTH),
    bytes,
  };
}

/** The 6 header bytes (envelope-v1 §1) for an HPKE alg and the recipient key version. */
export function encodeHpkeHeader(alg: HpkeAlg, keyVersion: number): Uint8Array {
  if (!isHpkeAlg(alg)) throw new RangeError(`alg must be ${HPKE_BASE_ALG} or ${HPKE_AUTH_ALG}, got ${alg}`);
  if (!Number.isInteger(keyVersion) || keyVersion < 1 || keyVersion > MAX_KEY_VERSION) {
    throw new RangeError(`keyVersion must be an integer in 1…${MAX_KEY_VERSION}, got ${keyVersion}`);
  }
  return Uint8Array.of(VERSION, alg, keyVersion >>> 24, (keyVersion >>> 16) & 0xff, (keyVersion >>> 8) & 0xff, keyVersion & 0xff);
}

/** An X25519 key pair held by a sealing device (auth mode). */
export interface SenderKeyPair {
  readonly privateKey: Uint8Array | SecretKey;
  readonly publicKey: Uint8Array;
}

export interface HpkeSealInput {
  /** encodeHpkeHeader(alg, keyVersion): alg 4 needs `sender`, alg 3 must not have one. */
  readonly header: Uint8Array;
  /** pkR: the recipient key version's X25519 public key. */
  readonly recipientPublicKey: Uint8Array;
  /** The envelope-v1 AAD built over `header` (passed to HPKE as `aad`). */
  readonly aad: Uint8Array;
  readonly plaintext: Uint8Array;
  readonly sender?: SenderKeyPair;
  /** Test vectors only: ikmE, from which the ephemeral key is derived (RFC 9180 §7.1.3). Default: a fresh random key. */
  readonly ikmE?: Uint8Array;
  readonly kem?: HpkeKemImpl;
}

/**
 * A copy of `bytes` in an ArrayBuffer of exactly its length. Not `.slice()`:
 * on a Node Buffer (what protobuf decoders hand out) that is a view of a
 * shared pool, not a copy.
 */
function exactBuffer(bytes: Uint8Array): ArrayBuffer {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return copy.buffer;
}

function bytesOf(key: Uint8Array | SecretKey): Uint8Array {
  return key instanceof SecretKey ? key.exposeBytes() : key;
}

/** Seals one value: header || [pkS] || enc || ct. */
export async function hpkeSealRaw(input: HpkeSealInput): Promise<Uint8Array> {
  const { header, sender } = input;
  const alg = header[1]!;
  if (header.length !== HEADER || !isHpkeAlg(alg)) throw new RangeError('header must be an alg 3 or 4 envelope header');
  if ((alg === HPKE_AUTH_ALG) !== (sender !== undefined)) {
    throw new RangeError(alg === HPKE_AUTH_ALG ? 'alg 4 (auth mode) needs a sender key pair' : 'alg 3 (base mode) takes no sender key');
  }
  assertX25519Key(input.recipientPublicKey, 'recipient public key');
  if (!(input.plaintext instanceof Uint8Array)) throw new TypeError('plaintext must be a Uint8Array');
  const suite = hpkeSuite(input.kem);
  const recipientPublicKey = await suite.kem.importKey('raw', exactBuffer(input.recipientPublicKey), true);
  let senderKey: CryptoKeyPair | undefined;
  // The imported key shares this copy's memory (XCryptoKey): wiped once sealed.
  let senderRaw: ArrayBuffer | undefined;
  let sealed: { ct: ArrayBuffer; enc: ArrayBuffer };
  try {
    if (sender) {
      assertX25519Key(bytesOf(sender.privateKey), 'sender private key');
      assertX25519Key(sender.publicKey, 'sender public key');
      senderRaw = exactBuffer(bytesOf(sender.privateKey));
      senderKey = {
        privateKey: await suite.kem.importKey('raw', senderRaw, false),
        publicKey: await suite.kem.importKey('raw', exactBuffer(sender.publicKey), true),
      };
    }
    sealed = await suite.seal(
      {
        recipientPublicKey,
        info: HPKE_INFO,
        ...(senderKey ? { senderKey } : {}),
        ...(input.ikmE ? { ekm: input.ikmE } : {}),
      },
      input.plaintext,
      input.aad,
    );
  } finally {
    if (senderRaw) new Uint8Array(senderRaw).fill(0);
  }
  const { ct, enc } = sealed;
  const prefix = sender ? sender.publicKey.length : 0;
  const out = new Uint8Array(HEADER + prefix + enc.byteLength + ct.byteLength);
  out.set(header, 0);
  if (sender) out.set(sender.publicKey, HEADER);
  out.set(new Uint8Array(enc), HEADER + prefix);
  out.set(new Uint8Array(ct), HEADER + prefix + enc.byteLength);
  return out;
}

export interface HpkeOpenInput {
  readonly envelope: HpkeEnvelope;
  /** skR of the envelope's key version. */
  readonly recipientPrivateKey: Uint8Array | SecretKey;
  /** The envelope-v1 AAD built over the envelope's own header. */
  readonly aad: Uint8Array;
  readonly kem?: HpkeKemImpl;
}

/**
 * Opens one value. Any failure (wrong key, tampering, a low-order `enc`, a
 * wrong sender key in auth mode) throws DecryptionError with its one opaque
 * message. Whether the sender key of an alg 4 envelope is allowed is the
 * caller's check (hpke-senders.ts), made before this.
 */
export async function hpkeOpenRaw(input: HpkeOpenInput): Promise<Uint8Array> {
  const { envelope } = input;
  const suite = hpkeSuite(input.kem);
  const raw = exactBuffer(bytesOf(input.recipientPrivateKey));
  try {
    if (raw.byteLength !== X25519_KEY_LENGTH) throw new TypeError(`recipient private key must be ${X25519_KEY_LENGTH} bytes`);
    const recipientKey = await suite.kem.importKey('raw', raw, false);
    const senderPublicKey = envelope.senderPublicKey
      ? await suite.kem.importKey('raw', exactBuffer(envelope.senderPublicKey), true)
      : undefined;
    const pt = await suite.open(
      { recipientKey, enc: exactBuffer(envelope.enc), info: HPKE_INFO, ...(senderPublicKey ? { senderPublicKey } : {}) },
      envelope.ct,
      input.aad,
    );
    return new Uint8Array(pt);
  } catch (err) {
    if (err instanceof TypeError) throw err;
    throw new DecryptionError();
  } finally {
    new Uint8Array(raw).fill(0);
  }
}

export interface SealHpkeEnvelopeOptions {
  readonly recipientPublicKey: Uint8Array;
  /** The recipient key version (1 … 2^32-1), written into the header. */
  readonly keyVersion: number;
  readonly binding: AadBinding;
  /** Auth mode (alg 4): the sealing device's key pair. Default: base mode (alg 3). */
  readonly sender?: SenderKeyPair;
  /** Test vectors only (see HpkeSealInput.ikmE). */
  readonly ikmE?: Uint8Array;
  readonly kem?: HpkeKemImpl;
}

/** Seals `plaintext` into a binary alg 3 (or, with `sender`, alg 4) envelope. */
export async function sealHpkeEnvelope(plaintext: Uint8Array, opts: SealHpkeEnvelopeOptions): Promise<Uint8Array> {
  const header = encodeHpkeHeader(opts.sender ? HPKE_AUTH_ALG : HPKE_BASE_ALG, opts.keyVersion);
  return hpkeSealRaw({
    header,
    recipientPublicKey: opts.recipientPublicKey,
    aad: buildAad(header, opts.binding),
    plaintext,
    ...(opts.sender ? { sender: opts.sender } : {}),
    ...(opts.ikmE ? { ikmE: opts.ikmE } : {}),
    ...(opts.kem ? { kem: opts.kem } : {}),
  });
}

export interface OpenHpkeEnvelopeOptions {
  /** skR of the envelope's key version (parseHpkeEnvelope(...).keyVersion). */
  readonly recipientPrivateKey: Uint8Array | SecretKey;
  readonly binding: AadBinding;
  readonly kem?: HpkeKemImpl;
}

/**
 * Opens a binary alg 3/4 envelope. Format problems throw EnvelopeFormatError
 * (before the key is touched); a wrong key, binding or sender key, or
 * tampering, DecryptionError. For alg 4, check `parseHpkeEnvelope(bytes).senderPublicKey`
 * against the registered devices first (hpke-senders.ts).
 */
export async function openHpkeEnvelope(envelope: Uint8Array | HpkeEnvelope, opts: OpenHpkeEnvelopeOptions): Promise<Uint8Array> {
  const env = envelope instanceof Uint8Array ? parseHpkeEnvelope(envelope) : envelope;
  return hpkeOpenRaw({
    envelope: env,
    recipientPrivateKey: opts.recipientPrivateKey,
    aad: buildAad(env.header, opts.binding),
    ...(opts.kem ? { kem: opts.kem } : {}),
  });
}
