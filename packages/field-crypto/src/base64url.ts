// base64url text form of an envelope in a `string` field (spec §5):
// RFC 4648 §5 alphabet, no padding, strict decoding. Pure JS so the
// portable build needs no Buffer.
import { EnvelopeFormatError } from './errors.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const INVALID = 0xff;

/** ASCII code -> 6-bit value, INVALID for anything outside the alphabet ('=' included). */
const DECODE = new Uint8Array(128).fill(INVALID);
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

/** ASCII codes of the alphabet, to build the text as bytes. */
const ENCODE = new Uint8Array(64);
for (let i = 0; i < 64; i++) ENCODE[i] = ALPHABET.charCodeAt(i);

/** 12-bit value -> two alphabet characters: short inputs are built from these. */
const PAIRS: string[] = [];
for (let i = 0; i < 4096; i++) PAIRS.push(ALPHABET[i >> 6]! + ALPHABET[i & 63]!);

const ascii = new TextDecoder('latin1');

/** Below this many bytes string concatenation is faster than a byte buffer + decoder. */
const SHORT_INPUT = 192;

/** RFC 4648 §5 base64url without padding. */
export function encodeBase64url(bytes: Uint8Array): string {
  const n = bytes.length;
  return n < SHORT_INPUT ? encodeShort(bytes, n) : encodeLong(bytes, n);
}

function encodeShort(bytes: Uint8Array, n: number): string {
  let out = '';
  const full = n - (n % 3);
  let i = 0;
  for (; i < full; i += 3) {
    out += PAIRS[(bytes[i]! << 4) | (bytes[i + 1]! >> 4)]! + PAIRS[((bytes[i + 1]! & 0x0f) << 8) | bytes[i + 2]!]!;
  }
  const rest = n - full;
  if (rest === 1) {
    const b0 = bytes[i]!;
    out += PAIRS[b0 << 4]!;
  } else if (rest === 2) {
    const b0 = bytes[i]!;
    const b1 = bytes[i + 1]!;
    out += PAIRS[(b0 << 4) | (b1 >> 4)]! + ALPHABET[(b1 & 0x0f) << 2]!;
  }
  return out;
}

function encodeLong(bytes: Uint8Array, n: number): string {
  const outLength = Math.ceil((n * 4) / 3);
  const out = new Uint8Array(outLength);
  const full = n - (n % 3);
  let i = 0;
  let o = 0;
  for (; i < full; i += 3) {
    const v = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out[o++] = ENCODE[v >> 18]!;
    out[o++] = ENCODE[(v >> 12) & 63]!;
    out[o++] = ENCODE[(v >> 6) & 63]!;
    out[o++] = ENCODE[v & 63]!;
  }
  const rest = n - full;
  if (rest === 1) {
    const v = bytes[i]!;
    out[o++] = ENCODE[v >> 2]!;
    out[o++] = ENCODE[(v & 3) << 4]!;
  } else if (rest === 2) {
    const v = (bytes[i]! << 8) | bytes[i + 1]!;
    out[o++] = ENCODE[v >> 10]!;
    out[o++] = ENCODE[(v >> 4) & 63]!;
    out[o++] = ENCODE[(v & 15) << 2]!;
  }
  return ascii.decode(out);
}

/**
 * Number of bytes `text` decodes to, after checking it is canonical base64url
 * (spec §5): only the RFC 4648 §5 alphabet, no padding, no length ≡ 1 (mod 4),
 * and zero unused trailing bits. Throws EnvelopeFormatError otherwise; the
 * message never repeats the text.
 */
export function base64urlDecodedLength(text: string, fieldPath?: string): number {
  if (typeof text !== 'string') throw new EnvelopeFormatError('envelope text must be a string', fieldPath);
  const n = text.length;
  const rest = n & 3;
  if (rest === 1) throw new EnvelopeFormatError('invalid base64url length', fieldPath);
  let codes = 0;
  let bits = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    codes |= c;
    bits |= DECODE[c & 0x7f]!;
  }
  if (codes & ~0x7f || bits & 0xc0) {
    throw new EnvelopeFormatError('invalid base64url character', fieldPath);
  }
  checkTrailingBits(text, rest, fieldPath);
  return ((n - rest) / 4) * 3 + (rest === 0 ? 0 : rest - 1);
}

function checkTrailingBits(text: string, rest: number, fieldPath: string | undefined): void {
  // Canonical encoding: the bits below the last whole byte are zero (RFC 4648 §3.5).
  if (rest === 2 && DECODE[text.charCodeAt(text.length - 1)]! & 0x0f) {
    throw new EnvelopeFormatError('non-canonical base64url (trailing bits set)', fieldPath);
  }
  if (rest === 3 && DECODE[text.charCodeAt(text.length - 1)]! & 0x03) {
    throw new EnvelopeFormatError('non-canonical base64url (trailing bits set)', fieldPath);
  }
}

/** Strict RFC 4648 §5 decoding (see base64urlDecodedLength for what is rejected). */
export function decodeBase64url(text: string, fieldPath?: string): Uint8Array {
  if (typeof text !== 'string') throw new EnvelopeFormatError('envelope text must be a string', fieldPath);
  const n = text.length;
  const rest = n & 3;
  if (rest === 1) throw new EnvelopeFormatError('invalid base64url length', fieldPath);
  const out = new Uint8Array(((n - rest) / 4) * 3 + (rest === 0 ? 0 : rest - 1));
  const full = n - rest;
  let codes = 0;
  let bad = 0;
  let o = 0;
  let i = 0;
  for (; i < full; i += 4) {
    const c0 = text.charCodeAt(i);
    const c1 = text.charCodeAt(i + 1);
    const c2 = text.charCodeAt(i + 2);
    const c3 = text.charCodeAt(i + 3);
    codes |= c0 | c1 | c2 | c3;
    const a = DECODE[c0 & 0x7f]!;
    const b = DECODE[c1 & 0x7f]!;
    const c = DECODE[c2 & 0x7f]!;
    const d = DECODE[c3 & 0x7f]!;
    bad |= a | b | c | d;
    out[o++] = (a << 2) | (b >> 4);
    out[o++] = ((b & 0x0f) << 4) | (c >> 2);
    out[o++] = ((c & 0x03) << 6) | d;
  }
  if (rest >= 2) {
    const c0 = text.charCodeAt(i);
    const c1 = text.charCodeAt(i + 1);
    codes |= c0 | c1;
    const a = DECODE[c0 & 0x7f]!;
    const b = DECODE[c1 & 0x7f]!;
    bad |= a | b;
    out[o++] = (a << 2) | (b >> 4);
    if (rest === 3) {
      const c2 = text.charCodeAt(i + 2);
      codes |= c2;
      const c = DECODE[c2 & 0x7f]!;
      bad |= c;
      out[o++] = ((b & 0x0f) << 4) | (c >> 2);
    }
  }
  if (codes & ~0x7f || bad & 0xc0) throw new EnvelopeFormatError('invalid base64url character', fieldPath);
  checkTrailingBits(text, rest, fieldPath);
  return out;
}

/**
 * Decodes only the first `byteCount` bytes (a multiple of 3) of a text already
 * checked by base64urlDecodedLength: the gateway reads envelope headers
 * without decoding whole values.
 */
export function decodeBase64urlPrefix(text: string, byteCount: number): Uint8Array {
  if (byteCount % 3 !== 0) throw new RangeError('byteCount must be a multiple of 3');
  return decodeBase64url(text.slice(0, (byteCount / 3) * 4));
}
