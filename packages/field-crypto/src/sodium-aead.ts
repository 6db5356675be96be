// ChaCha20-Poly1305 and XChaCha20-Poly1305 (spec §4) from libsodium's
// WebAssembly build (npm `libsodium`, the raw Emscripten module): the same
// bytes as node:crypto and @noble/ciphers, no home-made primitive.
//
// Why (issue 7, bench/e2e): node:crypto pays a fixed ~5 µs per call for a new
// cipher context (createCipheriv: an OpenSSL EVP context plus three result
// Buffers and their finalizers) whatever the size, and a sealed field is
// usually tens of bytes. One libsodium call costs ~1 µs at 16 B and ~5 µs at
// 1 KiB (node:crypto: ~5.5 and ~10 µs). libsodium's WASM build has no SIMD,
// so from a few KiB on node:crypto is faster: fast-backend.ts sends only
// values up to MAX_VALUE here.
//
// Memory: one scratch region in the WASM heap, allocated once:
//   key (32) | nonce (24) | aad (MAX_AAD) | input (MAX_VALUE+16) | output (MAX_VALUE+16)
//   | envelope (header 6 | nonce ≤24 | ciphertext and tag MAX_VALUE+16)
// Every call zeroes the key and the plaintext bytes (input on seal, output on
// open) before it returns, so no key or plaintext stays in the heap.
//
// String fields (spec §5: the envelope as base64url text) have paths of their
// own, sealText and openText: the text is decoded straight into the envelope
// region and the sealed envelope encoded to text straight from it, and the
// value's UTF-8 is written into (read from) the heap, so a string value costs
// no intermediate arrays and no copies in and out of the heap. Same bytes as
// seal/open with base64url around them (tests compare the two).
import { Buffer } from 'node:buffer';
import { decodeBase64urlAt } from './base64url.js';
import { assertKeyBytes, HEADER_LENGTH } from './envelope.js';
import { DecryptionError } from './errors.js';
import type { SymmetricAlg } from './key-provider.js';
import { fillFrom, type RandomSource } from './random.js';

/** Largest plaintext (bytes) handled here; larger values go to node:crypto. */
export const MAX_VALUE = 2048;
/** Largest AAD (bytes) handled here (spec §3 AADs are usually < 200 bytes). */
export const MAX_AAD = 1024;
const TAG = 16;

// Offsets in the scratch region (multiples of 8).
const KEY = 0;
const NONCE = 32;
const AAD = 56;
const INPUT = AAD + MAX_AAD;
const OUTPUT = INPUT + MAX_VALUE + TAG;
/** Where an envelope's ciphertext starts in the envelope region; its nonce and header lie just before it. */
const ENVELOPE_CT = OUTPUT + MAX_VALUE + TAG + HEADER_LENGTH + 24 + 2;
const SCRATCH = ENVELOPE_CT + MAX_VALUE + TAG;

const utf8Encoder = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The parts of the Emscripten module used here; 64-bit lengths are passed as (low, high) 32-bit halves. */
interface SodiumModule {
  readonly HEAPU8: Uint8Array;
  _malloc(size: number): number;
  _sodium_init(): number;
  /** (c, clen_p, m, mlen_lo, mlen_hi, ad, adlen_lo, adlen_hi, nsec, npub, k) */
  _crypto_aead_chacha20poly1305_ietf_encrypt(...args: number[]): number;
  _crypto_aead_xchacha20poly1305_ietf_encrypt(...args: number[]): number;
  /** (m, mlen_p, nsec, c, clen_lo, clen_hi, ad, adlen_lo, adlen_hi, npub, k); 0 = authentic */
  _crypto_aead_chacha20poly1305_ietf_decrypt(...args: number[]): number;
  _crypto_aead_xchacha20poly1305_ietf_decrypt(...args: number[]): number;
}

/**
 * Where libsodium's decrypt leaves plaintext on the WASM stack: its ChaCha20
 * handles a final partial block in a 64-byte stack buffer and never wipes it,
 * so after opening, up to 63 plaintext bytes stay there (found by the test
 * "leaves no key and no plaintext in the WASM heap"). The module exports no
 * stack pointer, so load() finds the spot by decrypting a marker; open then
 * wipes this window around it after every call.
 */
interface StackWindow {
  readonly start: number;
  readonly end: number;
}

/** Bytes wiped on either side of the calibrated spot (other frames of the same call). */
const STACK_MARGIN = 1024;

export class SodiumAead {
  readonly #m: SodiumModule;
  readonly #base: number;
  #stack: StackWindow | undefined;
  /** The heap's native text codecs (a Node Buffer over the same memory), remade if the heap grows. */
  #heapText: HeapText | undefined;

  private constructor(m: SodiumModule, base: number) {
    this.#m = m;
    this.#base = base;
  }

  /** Finds where a decrypt leaves its last partial block on the stack (both algs). */
  #calibrateStack(): void {
    const key = new Uint8Array(32).fill(0x5c);
    const marker = Uint8Array.from({ length: 63 }, (_, i) => (i * 37 + 11) & 0xff);
    const spots: number[] = [];
    for (const [alg, nl] of [[1, 12], [2, 24]] as const) {
      const nonce = new Uint8Array(nl).fill(alg);
      const sealed = new Uint8Array(marker.length + TAG);
      this.seal(alg, key, nonce, new Uint8Array(0), marker, sealed, 0);
      const opened = this.openTransient(alg, key, nonce, new Uint8Array(0), sealed);
      opened?.fill(0);
      const heap = this.#m.HEAPU8;
      for (let at = indexOf(heap, marker, 0); at >= 0; at = indexOf(heap, marker, at + 1)) spots.push(at);
    }
    if (spots.length === 0) return;
    const low = Math.min(...spots);
    const high = Math.max(...spots) + 64;
    // The margin never reaches into the scratch region (its parts are wiped by their own rules).
    const scratchEnd = this.#base + SCRATCH;
    if (low < scratchEnd && high > this.#base) return;
    const start = Math.max(low >= scratchEnd ? scratchEnd : 0, low - STACK_MARGIN);
    const end = Math.min(high <= this.#base ? this.#base : this.#m.HEAPU8.length, high + STACK_MARGIN);
    this.#stack = { start, end };
    this.#m.HEAPU8.fill(0, start, end);
  }

  /** Instantiates the WASM module; undefined when it cannot be loaded here. */
  static async load(): Promise<SodiumAead | undefined> {
    try {
      const { default: factory } = (await import('libsodium')) as { default: (arg: object) => Promise<SodiumModule> };
      // libsodium's own RNG is never used here (nonces come from random.ts), but sodium_init wants a source.
      const m = await factory({ getRandomValue: () => globalThis.crypto.getRandomValues(new Uint32Array(1))[0]! });
      if (m._sodium_init() < 0) return undefined;
      const base = m._malloc(SCRATCH);
      if (!base) return undefined;
      m.HEAPU8.fill(0, base, base + SCRATCH);
      const aead = new SodiumAead(m, base);
      aead.#calibrateStack();
      return aead;
    } catch {
      return undefined;
    }
  }

  /** The WASM heap (tests check that no key or plaintext is left in it). */
  heapForTests(): Uint8Array {
    return this.#m.HEAPU8;
  }

  /**
   * Writes ciphertext || tag of `plaintext` into `out` at `offset`; false
   * (nothing written) when the plaintext or AAD is too large for the scratch.
   */
  seal(alg: SymmetricAlg, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, out: Uint8Array, offset: number): boolean {
    // Before anything is written to the heap: an empty key would leave the (wiped) key slot all zeros.
    assertKeyBytes(key);
    const n = plaintext.length;
    if (n > MAX_VALUE || aad.length > MAX_AAD) return false;
    const m = this.#m;
    const b = this.#base;
    const heap = m.HEAPU8;
    heap.set(nonce, b + NONCE);
    heap.set(plaintext, b + INPUT);
    this.#encryptAt(alg, key, aad, b + OUTPUT, b + INPUT, n, b + NONCE);
    out.set(m.HEAPU8.subarray(b + OUTPUT, b + OUTPUT + n + TAG), offset);
    return true;
  }

  /**
   * libsodium's encrypt of the input at `input` (n bytes) to `c`, with the
   * nonce at `npub`: writes key and AAD into the scratch first, and wipes the
   * key and the input afterwards, also when it fails.
   */
  #encryptAt(alg: SymmetricAlg, key: Uint8Array, aad: Uint8Array, c: number, input: number, n: number, npub: number): void {
    const m = this.#m;
    const b = this.#base;
    let heap = m.HEAPU8;
    heap.set(key, b + KEY);
    heap.set(aad, b + AAD);
    const encrypt = alg === 1 ? m._crypto_aead_chacha20poly1305_ietf_encrypt : m._crypto_aead_xchacha20poly1305_ietf_encrypt;
    const rc = encrypt(c, 0, input, n, 0, b + AAD, aad.length, 0, 0, npub, b + KEY);
    heap = m.HEAPU8; // the view is replaced if the heap ever grew
    heap.fill(0, b + KEY, b + KEY + 32);
    heap.fill(0, input, input + n);
    if (rc !== 0) throw new Error('libsodium encryption failed');
  }

  /**
   * libsodium's decrypt of `clen` bytes at `c` (ciphertext || tag) to
   * `out`, with the nonce at `npub`; true when authentic. Writes key and AAD
   * first; wipes the key and the stack spot where libsodium leaves plaintext
   * (see StackWindow) afterwards. The plaintext at `out` is the caller's to wipe.
   */
  #decryptAt(alg: SymmetricAlg, key: Uint8Array, aad: Uint8Array, out: number, c: number, clen: number, npub: number): boolean {
    const m = this.#m;
    const b = this.#base;
    let heap = m.HEAPU8;
    heap.set(key, b + KEY);
    heap.set(aad, b + AAD);
    const decrypt = alg === 1 ? m._crypto_aead_chacha20poly1305_ietf_decrypt : m._crypto_aead_xchacha20poly1305_ietf_decrypt;
    // libsodium checks the tag before it decrypts anything.
    const rc = decrypt(out, 0, 0, c, clen, 0, b + AAD, aad.length, 0, npub, b + KEY);
    heap = m.HEAPU8;
    heap.fill(0, b + KEY, b + KEY + 32);
    if (this.#stack !== undefined) heap.fill(0, this.#stack.start, this.#stack.end);
    return rc === 0;
  }

  /**
   * Verifies and decrypts `sealed` (ciphertext || tag); DecryptionError when
   * not authentic; undefined when too large for the scratch (nothing done).
   */
  open(alg: SymmetricAlg, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined {
    const view = this.openTransient(alg, key, nonce, aad, sealed);
    if (view === undefined) return undefined;
    const plaintext = view.slice();
    view.fill(0);
    return plaintext;
  }

  /**
   * open, leaving the plaintext in the WASM heap: the returned view is valid
   * until the next call, and the caller must wipe it (fill(0)) once read.
   */
  openTransient(alg: SymmetricAlg, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined {
    assertKeyBytes(key);
    const n = sealed.length;
    if (n < TAG) throw new DecryptionError();
    if (n - TAG > MAX_VALUE || aad.length > MAX_AAD) return undefined;
    const m = this.#m;
    const b = this.#base;
    const heap = m.HEAPU8;
    heap.set(nonce, b + NONCE);
    heap.set(sealed, b + INPUT);
    if (!this.#decryptAt(alg, key, aad, b + OUTPUT, b + INPUT, n, b + NONCE)) {
      m.HEAPU8.fill(0, b + OUTPUT, b + OUTPUT + n - TAG);
      throw new DecryptionError();
    }
    return m.HEAPU8.subarray(b + OUTPUT, b + OUTPUT + n - TAG);
  }

  #text(heap: Uint8Array): HeapText {
    let t = this.#heapText;
    if (t === undefined || t.buffer !== heap.buffer) this.#heapText = t = heapText(heap);
    return t;
  }

  /**
   * The whole envelope of a string field as base64url text (spec §5):
   * `header` (6 bytes, encodeHeader(alg, version)), a fresh nonce from
   * `random`, then ciphertext || tag of the UTF-8 of `text`. Undefined (nothing
   * done, nothing drawn from `random`) when the value or AAD is too large.
   */
  sealText(alg: SymmetricAlg, header: Uint8Array, key: Uint8Array, aad: Uint8Array, text: string, random: RandomSource): string | undefined {
    assertKeyBytes(key);
    if (text.length > MAX_VALUE || aad.length > MAX_AAD) return undefined;
    const m = this.#m;
    const b = this.#base;
    const heap = m.HEAPU8;
    // UTF-8 into the input: ASCII in a JS loop, anything else through TextEncoder (declined if it outgrows MAX_VALUE).
    const input = b + INPUT;
    const chars = text.length;
    let n = 0;
    for (; n < chars; n++) {
      const c = text.charCodeAt(n);
      if (c >= 0x80) break;
      heap[input + n] = c;
    }
    if (n < chars) {
      const { read, written } = utf8Encoder.encodeInto(text, heap.subarray(input, input + MAX_VALUE));
      if (read !== chars) {
        heap.fill(0, input, input + MAX_VALUE);
        return undefined;
      }
      n = written;
    }
    const nl = alg === 1 ? 12 : 24;
    const ct = b + ENVELOPE_CT;
    const nonceAt = ct - nl;
    const start = nonceAt - HEADER_LENGTH;
    for (let i = 0; i < HEADER_LENGTH; i++) heap[start + i] = header[i]!;
    try {
      fillFrom(random, heap, nonceAt, nl);
    } catch (err) {
      heap.fill(0, input, input + n);
      throw err;
    }
    this.#encryptAt(alg, key, aad, ct, input, n, nonceAt);
    return this.#text(m.HEAPU8).base64url(start, ct + n + TAG);
  }

  /**
   * Opens the base64url text of a string field's envelope (already checked:
   * canonical, `length` decoded bytes, header read) and returns its value.
   * DecryptionError when not authentic; TypeError when the plaintext is not
   * UTF-8; undefined (nothing done) when too large for the scratch.
   */
  openText(alg: SymmetricAlg, key: Uint8Array, text: string, length: number, aad: Uint8Array): string | undefined {
    assertKeyBytes(key);
    // The text decodes to exactly `length` bytes (the region below is sized by it, never by the text).
    if (text.length !== Math.floor((4 * length + 2) / 3)) throw new RangeError('envelope text and length disagree');
    const nl = alg === 1 ? 12 : 24;
    const sealedLength = length - HEADER_LENGTH - nl;
    if (sealedLength < TAG) throw new DecryptionError();
    const n = sealedLength - TAG;
    if (n > MAX_VALUE || aad.length > MAX_AAD) return undefined;
    const m = this.#m;
    const b = this.#base;
    let heap = m.HEAPU8;
    const ct = b + ENVELOPE_CT;
    // The caller checked the text (canonical), so exactly `length` bytes are written (checked again).
    if (decodeBase64urlAt(text, heap, ct - nl - HEADER_LENGTH) !== length) throw new DecryptionError();
    const out = b + OUTPUT;
    const authentic = this.#decryptAt(alg, key, aad, out, ct, sealedLength, ct - nl);
    heap = m.HEAPU8;
    try {
      if (!authentic) throw new DecryptionError();
      let ascii = 0;
      for (let i = out; i < out + n; i++) ascii |= heap[i]!;
      return ascii < 0x80 ? this.#text(heap).latin1(out, out + n) : strictUtf8.decode(heap.subarray(out, out + n));
    } finally {
      heap.fill(0, out, out + n);
    }
  }


}

/** Text from a range of the heap, by Node's native codecs. */
interface HeapText {
  readonly buffer: ArrayBufferLike;
  base64url(start: number, end: number): string;
  /** Only for ASCII bytes (checked by the caller). */
  latin1(start: number, end: number): string;
}

/** Buffer's undocumented but long-standing slice methods (no argument checks), else its documented toString. */
interface NodeSlices {
  base64urlSlice?(start: number, end: number): string;
  latin1Slice?(start: number, end: number): string;
}

function heapText(heap: Uint8Array): HeapText {
  const b = Buffer.from(heap.buffer, heap.byteOffset, heap.byteLength);
  const { base64urlSlice, latin1Slice } = b as NodeSlices;
  return {
    buffer: heap.buffer,
    base64url: base64urlSlice ? base64urlSlice.bind(b) : (start, end) => b.toString('base64url', start, end),
    latin1: latin1Slice ? latin1Slice.bind(b) : (start, end) => b.toString('latin1', start, end),
  };
}

/** First index of `needle` in `haystack` at or after `from`, or -1. */
function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0]!;
  const last = haystack.length - needle.length;
  outer: for (let i = haystack.indexOf(first, from); i >= 0 && i <= last; i = haystack.indexOf(first, i + 1)) {
    for (let j = 1; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
