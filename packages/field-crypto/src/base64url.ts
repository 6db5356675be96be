// base64url text form of an envelope in a `string` field (spec §5):
// RFC 4648 §5 alphabet, no padding, strict decoding. Pure JS (plus Node's
// Buffer as a fast path when the runtime has it), so the portable build
// imports nothing from Node.
import { EnvelopeFormatError } from './errors.js';
import { Scratch } from './scratch.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const INVALID = 0xff;

/** ASCII code -> 6-bit value, INVALID for anything outside the alphabet ('=' included). */
const DECODE = new Uint8Array(128).fill(INVALID);
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

/** The alphabet only (JS `$` is the end of the input, never before a final newline); V8 runs it faster than a loop over the characters. */
const BASE64URL_TEXT = /^[A-Za-z0-9_-]*$/;
/** ASCII codes of the alphabet, to build the text as bytes. */
const ENCODE = new Uint8Array(64);
for (let i = 0; i < 64; i++) ENCODE[i] = ALPHABET.charCodeAt(i);

/** 12-bit value -> its two alphabet characters as one 16-bit unit, laid out as two ASCII bytes in memory. */
const PAIR_CODES = new Uint16Array(4096);
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
for (let i = 0; i < 4096; i++) {
  const first = ENCODE[i >> 6]!;
  const second = ENCODE[i & 63]!;
  PAIR_CODES[i] = LITTLE_ENDIAN ? first | (second << 8) : (first << 8) | second;
}

/**
 * Node's Buffer when the runtime is Node (no import: this file stays
 * portable; a browser's Buffer polyfill is not trusted with 'base64url').
 */
interface NodeBufferLike {
  toString(encoding: 'latin1' | 'base64url', start?: number, end?: number): string;
  write(text: string, offset: number, length: number, encoding: 'base64url'): number;
  /** Undocumented but long-standing; the documented toString() is the fallback. */
  latin1Slice?(start: number, end: number): string;
  base64urlSlice?(start: number, end: number): string;
}
const runtime = globalThis as {
  Buffer?: { from(ab: ArrayBuffer, offset?: number, length?: number): NodeBufferLike };
  process?: { versions?: { node?: string } };
};
const NodeBuffer = typeof runtime.process?.versions?.node === 'string' ? runtime.Buffer : undefined;

// The text is built as ASCII codes, two characters per 16-bit store, in a
// reused buffer, then turned into a string by one call: Buffer#latin1Slice
// where the runtime has Buffer, TextDecoder otherwise (ASCII = latin1 here).
// Large inputs go to Node's native base64url encoder when there is one.
const latin1 = new TextDecoder('latin1');
const TEXT_KEPT = 64 * 1024;
let textBytes = new Uint8Array(1024);
let textPairs = new Uint16Array(textBytes.buffer);
let textNode = NodeBuffer?.from(textBytes.buffer);
const decodeScratch = new Scratch(1024);

function textCapacity(size: number): void {
  if (size <= textBytes.length) return;
  textBytes = new Uint8Array(Math.min(TEXT_KEPT, Math.max(size, textBytes.length * 2)));
  textPairs = new Uint16Array(textBytes.buffer);
  textNode = NodeBuffer?.from(textBytes.buffer);
}

/** From this many input bytes on, Node's native encoder beats the JS loop. */
const NATIVE_FROM = 512;

/** RFC 4648 §5 base64url without padding, of `bytes` or its first `length` bytes. */
export function encodeBase64url(bytes: Uint8Array, length: number = bytes.length): string {
  if (NodeBuffer && length >= NATIVE_FROM) {
    return NodeBuffer.from(bytes.buffer as ArrayBuffer, bytes.byteOffset, length).toString('base64url');
  }
  return encodeJs(bytes, length, true);
}

/**
 * An encoder bound to one buffer: `encode(n)` is base64url of its first n
 * bytes. Under Node it is one native call on a Buffer view made once (the
 * seal path encodes every string field's envelope from the same scratch buffer).
 */
export function base64urlEncoderFor(buffer: Uint8Array): (n: number) => string {
  const view = NodeBuffer?.from(buffer.buffer as ArrayBuffer, buffer.byteOffset, buffer.length);
  if (view?.base64urlSlice) {
    const slice = view.base64urlSlice.bind(view);
    return (n) => slice(0, n);
  }
  if (view) return (n) => view.toString('base64url', 0, n);
  return (n) => encodeJs(buffer, n, false);
}

/** The portable encoder alone (exported for tests: under Node, encodeBase64url also uses Buffer). */
export function encodeBase64urlPortable(bytes: Uint8Array, length: number = bytes.length): string {
  return encodeJs(bytes, length, false);
}

function encodeJs(bytes: Uint8Array, n: number, useNode: boolean): string {
  const textLength = Math.ceil((n * 4) / 3);
  const large = textLength + 4 > TEXT_KEPT;
  if (!large) textCapacity(textLength + 4);
  const out = large ? new Uint8Array(textLength + 4) : textBytes;
  const pairs = large ? new Uint16Array(out.buffer) : textPairs;
  const full = n - (n % 3);
  let i = 0;
  let p = 0;
  for (; i < full; i += 3) {
    const v = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    pairs[p++] = PAIR_CODES[v >> 12]!;
    pairs[p++] = PAIR_CODES[v & 0xfff]!;
  }
  let o = p * 2;
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
  if (useNode && textNode && !large) return textNode.latin1Slice ? textNode.latin1Slice(0, o) : textNode.toString('latin1', 0, o);
  return latin1.decode(out.subarray(0, o));
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
  if (!BASE64URL_TEXT.test(text)) throw new EnvelopeFormatError('invalid base64url character', fieldPath);
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

/** Strict RFC 4648 §5 decoding (see base64urlDecodedLength for what is rejected) into a new array. */
export function decodeBase64url(text: string, fieldPath?: string): Uint8Array {
  return decodeInto(text, fieldPath, false);
}

/**
 * Like decodeBase64url, into a reused scratch buffer: the view is valid until
 * the next call. For bytes that are consumed at once (an envelope being opened).
 */
export function decodeBase64urlView(text: string, fieldPath?: string): Uint8Array {
  return decodeInto(text, fieldPath, true);
}

function decodeInto(text: string, fieldPath: string | undefined, scratch: boolean): Uint8Array {
  if (typeof text !== 'string') throw new EnvelopeFormatError('envelope text must be a string', fieldPath);
  const n = text.length;
  const rest = n & 3;
  if (rest === 1) throw new EnvelopeFormatError('invalid base64url length', fieldPath);
  const size = ((n - rest) / 4) * 3 + (rest === 0 ? 0 : rest - 1);
  const out = scratch ? decodeScratch.take(size) : new Uint8Array(size);
  decodeBase64urlAt(text, out, 0, fieldPath);
  return out;
}

/**
 * Strict decoding (see base64urlDecodedLength) of `text` into out[offset..]:
 * the caller has made room for all its bytes. Returns how many were written.
 * A JS loop rather than Node's decoder even under Node for an envelope opened
 * in place (sodium-aead.ts): as fast warm for a short text, and it does not
 * pay Node's native call path with cold caches (~5 µs; bench field-crypto).
 */
export function decodeBase64urlAt(text: string, out: Uint8Array, offset: number, fieldPath?: string): number {
  const n = text.length;
  const rest = n & 3;
  if (rest === 1) throw new EnvelopeFormatError('invalid base64url length', fieldPath);
  const full = n - rest;
  let codes = 0;
  let bad = 0;
  let o = offset;
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
  return o - offset;
}

/** Scratch for decodeCheckedBase64urlView under Node: a Buffer over the same memory, for its native decoder. */
let checkedScratch = new Uint8Array(1024);
let checkedNode = NodeBuffer?.from(checkedScratch.buffer);

/**
 * Decodes text that base64urlDecodedLength already accepted (canonical, so
 * `length` is exact) into a reused buffer: the view is valid until the next
 * call. Under Node the decoding is one native call; otherwise the strict JS
 * decoder runs (and checks again).
 */
export function decodeCheckedBase64urlView(text: string, length: number, fieldPath?: string): Uint8Array {
  if (checkedNode === undefined || length > TEXT_KEPT) return decodeInto(text, fieldPath, true);
  if (length > checkedScratch.length) {
    checkedScratch = new Uint8Array(Math.min(TEXT_KEPT, Math.max(length, checkedScratch.length * 2)));
    checkedNode = NodeBuffer!.from(checkedScratch.buffer);
  }
  const written = checkedNode.write(text, 0, length, 'base64url');
  if (written !== length) throw new EnvelopeFormatError('invalid base64url', fieldPath);
  return checkedScratch.subarray(0, length);
}

/**
 * The first 6 bytes (an envelope header) of text that base64urlDecodedLength
 * already accepted and that decodes to at least 6 bytes, into `out`.
 */
export function decodeBase64urlHeaderInto(text: string, out: Uint8Array): Uint8Array {
  for (let i = 0, o = 0; i < 8; i += 4) {
    const a = DECODE[text.charCodeAt(i) & 0x7f]!;
    const b = DECODE[text.charCodeAt(i + 1) & 0x7f]!;
    const c = DECODE[text.charCodeAt(i + 2) & 0x7f]!;
    const d = DECODE[text.charCodeAt(i + 3) & 0x7f]!;
    out[o++] = (a << 2) | (b >> 4);
    out[o++] = ((b & 0x0f) << 4) | (c >> 2);
    out[o++] = ((c & 0x03) << 6) | d;
  }
  return out;
}
