// Map keys in field paths (spec §3): a value inside a map is addressed by the
// map field's number and the key in brackets. An integer key is written in
// decimal, a bool key as true/false, and a string key percent-encoded: every
// byte of its UTF-8 form other than the unreserved characters is written %XX
// (two uppercase hex digits), so `ssn` stays `7[ssn]`, `a].3[b` becomes
// `7[a%5D.3%5Bb]`, `é` becomes `7[%C3%A9]` and the empty key gives `7[]`.
//
// The unreserved characters are A-Z a-z 0-9 - . _ ~ (RFC 3986 §2.3). The
// spec's list names A-Z a-z 0-9 - _ ~ while its own example, `a].3[b` ->
// `7[a%5D.3%5Bb]`, and its golden vector keep the `.`: the example and the
// vector are followed here (the list misses the dot). Either way the path is
// unambiguous: `[`, `]` and `%` are always encoded, so a key's text ends at
// the first `]`, a dot inside brackets never separates fields, and a path
// names exactly one place (no two keys, no key and a nested path, share a text).
//
// Keys arrive as the JS object keys of a ts-proto map (always strings): an
// integer key must be the canonical decimal text of a value of its proto type
// and a bool key `true` or `false`, or the key is refused (two spellings of one
// key, `7` and `07`, would otherwise name one wire key by two paths).

/** A protobuf map key type (protobufjs MapField.keyType). */
export type MapKeyType =
  | 'string'
  | 'bool'
  | 'int32'
  | 'sint32'
  | 'sfixed32'
  | 'uint32'
  | 'fixed32'
  | 'int64'
  | 'sint64'
  | 'sfixed64'
  | 'uint64'
  | 'fixed64';

const UNRESERVED = /^[A-Za-z0-9._~-]*$/;
/** A lone surrogate: such a string has no UTF-8 form (and is no valid proto string). */
const LONE_SURROGATE = /\p{Surrogate}/u;
const CANONICAL_INT = /^(?:0|-?[1-9][0-9]*)$/;
const HEX = '0123456789ABCDEF';
const encoder = new TextEncoder();

/** Inclusive range of each integer key type. */
const INT_RANGES: Record<Exclude<MapKeyType, 'string' | 'bool'>, readonly [bigint, bigint]> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  sint32: [-(2n ** 31n), 2n ** 31n - 1n],
  sfixed32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  fixed32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  sint64: [-(2n ** 63n), 2n ** 63n - 1n],
  sfixed64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  fixed64: [0n, 2n ** 64n - 1n],
};

export const MAP_KEY_TYPES: readonly MapKeyType[] = ['string', 'bool', ...(Object.keys(INT_RANGES) as MapKeyType[])];

/** The percent-encoding of spec §3 (`key` has no lone surrogate). */
function percentEncode(key: string): string {
  let out = '';
  for (const b of encoder.encode(key)) {
    const unreserved = (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e;
    out += unreserved ? String.fromCharCode(b) : `%${HEX[b >> 4]}${HEX[b & 15]}`;
  }
  return out;
}

/**
 * The text of a map key inside the brackets of a field path (spec §3), or
 * undefined when `key` is not a valid key of `keyType` as a JS object key
 * (an integer not in canonical decimal or out of range, a bool other than
 * true/false, a string with a lone surrogate).
 */
export function mapKeyText(keyType: MapKeyType, key: string): string | undefined {
  if (keyType === 'string') {
    if (UNRESERVED.test(key)) return key;
    return LONE_SURROGATE.test(key) ? undefined : percentEncode(key);
  }
  if (keyType === 'bool') return key === 'true' || key === 'false' ? key : undefined;
  const range = INT_RANGES[keyType];
  if (range === undefined || !CANONICAL_INT.test(key)) return undefined;
  const n = BigInt(key);
  return n >= range[0] && n <= range[1] ? key : undefined;
}

/** What a map of `keyType` must hold as keys, for error messages (never the key itself). */
export function mapKeyExpectation(keyType: MapKeyType): string {
  if (keyType === 'string') return 'string map keys that are well-formed Unicode';
  if (keyType === 'bool') return 'bool map keys written true or false';
  return `${keyType} map keys in canonical decimal, within range`;
}
