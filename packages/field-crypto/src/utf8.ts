// UTF-8 for the hot path. TextEncoder/TextDecoder cross into C++ on every
// call, which costs more than the work for the short strings a message holds
// (tenant ids, paths, contexts, most field values): short ASCII is handled in
// JS, everything else goes to TextEncoder/TextDecoder.
import type { Scratch } from './scratch.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Longest string handled on the ASCII fast path. */
const FAST_MAX = 128;

function isShortAscii(s: string): boolean {
  const n = s.length;
  if (n > FAST_MAX) return false;
  for (let i = 0; i < n; i++) if (s.charCodeAt(i) >= 0x80) return false;
  return true;
}

/** UTF-8 bytes of `s`. */
export function utf8Encode(s: string): Uint8Array {
  const n = s.length;
  if (isShortAscii(s)) {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = s.charCodeAt(i);
    return out;
  }
  return encoder.encode(s);
}

/** UTF-8 bytes of `s` in `scratch` (a view valid until the scratch is used again). */
export function utf8EncodeInto(s: string, scratch: Scratch): Uint8Array {
  const n = s.length;
  const out = scratch.buffer(3 * n);
  if (n <= FAST_MAX) {
    // One pass: copy while the text is ASCII, hand over to TextEncoder at the first other character.
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      out[i] = c;
    }
    if (i === n) return scratch.view(out, n);
  }
  const { written } = encoder.encodeInto(s, out);
  return scratch.view(out, written);
}

/** Strict UTF-8 decoding: throws TypeError on invalid input. */
export function utf8Decode(bytes: Uint8Array): string {
  const n = bytes.length;
  if (n <= FAST_MAX) {
    let ascii = true;
    for (let i = 0; i < n; i++) {
      if (bytes[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  }
  return decoder.decode(bytes);
}

/**
 * Writes lp(s) (u32be UTF-8 length, then UTF-8) at out[offset..]; `out` must
 * have room for 4 + 3 * s.length bytes from offset. Returns the end offset.
 */
export function writeLengthPrefixed(s: string, out: Uint8Array, offset: number): number {
  let written: number;
  if (isShortAscii(s)) {
    written = s.length;
    for (let i = 0; i < written; i++) out[offset + 4 + i] = s.charCodeAt(i);
  } else {
    written = encoder.encodeInto(s, out.subarray(offset + 4)).written;
  }
  out[offset] = written >>> 24;
  out[offset + 1] = (written >>> 16) & 0xff;
  out[offset + 2] = (written >>> 8) & 0xff;
  out[offset + 3] = written & 0xff;
  return offset + 4 + written;
}

/** lp(s) of spec §3 as a new array (exactly sized: small arrays stay on V8's heap). */
export function lengthPrefixedUtf8(s: string): Uint8Array {
  if (isShortAscii(s)) {
    const out = new Uint8Array(4 + s.length);
    writeLengthPrefixed(s, out, 0);
    return out;
  }
  const utf8 = encoder.encode(s);
  const out = new Uint8Array(4 + utf8.length);
  out[0] = utf8.length >>> 24;
  out[1] = (utf8.length >>> 16) & 0xff;
  out[2] = (utf8.length >>> 8) & 0xff;
  out[3] = utf8.length & 0xff;
  out.set(utf8, 4);
  return out;
}
