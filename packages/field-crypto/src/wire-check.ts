// The wire check: whatever checks a message must forward exactly what it
// checked (issue 17.1, docs/wire-check.md).
//
// A protobuf decoder keeps the last copy of a singular field, merges repeated
// copies of a message field, keeps the last of duplicate map keys and the last
// member of a oneof, and skips unknown fields. The gateway and the boundary
// check the *decoded* view (every sensitive field an envelope) and pass on the
// *bytes*, so anything a decoder drops or merges away could carry plaintext
// past the check: an earlier copy of a sensitive field, a field sent with
// another wire type, an unknown field number. This check runs on the bytes
// before decoding and refuses them, so the decoded view is all there is.
//
// Strict rules, in every message type that holds sensitive fields at any depth
// (a type without any sensitive field below it is skipped as one
// length-delimited value: plaintext is allowed there by the schema anyway):
//   - every field number is known to the schema;
//   - every field has its schema's wire type (repeated scalars packed or not);
//   - a non-repeated field (message fields included) occurs at most once, and
//     at most one member of a oneof is present;
//   - map entries hold only key (1) and value (2), each at most once, and no
//     key occurs twice in one map;
//   - a sensitive string is valid UTF-8 (the decoded text is the bytes);
//   - at most `maxEnvelopes` sensitive values in the whole message (bounded
//     work per request: each is an AEAD or HPKE open later).
// Groups (wire types 3 and 4) are refused wherever the check is strict.
import type protobuf from 'protobufjs';
import { SENSITIVE_OPTION } from './schema.js';
import { TooManyEnvelopesError, WireFormatError } from './errors.js';

/** Default cap on sensitive values per message (gateway and boundary config `maxEnvelopes`). */
export const DEFAULT_MAX_ENVELOPES = 1024;

export interface WireCheckOptions {
  /** Most sensitive values one message may carry; DEFAULT_MAX_ENVELOPES when absent. */
  readonly maxEnvelopes?: number;
}

/** Checks one encoded message; returns how many sensitive values it carries. Throws WireFormatError / TooManyEnvelopesError. */
export type WireCheck = (bytes: Uint8Array) => number;

const enum Wire {
  Varint = 0,
  Fixed64 = 1,
  Len = 2,
  StartGroup = 3,
  EndGroup = 4,
  Fixed32 = 5,
}

const WIRE_OF_SCALAR: Record<string, Wire> = {
  int32: Wire.Varint, int64: Wire.Varint, uint32: Wire.Varint, uint64: Wire.Varint, sint32: Wire.Varint, sint64: Wire.Varint, bool: Wire.Varint,
  fixed64: Wire.Fixed64, sfixed64: Wire.Fixed64, double: Wire.Fixed64,
  fixed32: Wire.Fixed32, sfixed32: Wire.Fixed32, float: Wire.Fixed32,
  string: Wire.Len, bytes: Wire.Len,
};

interface KeyRule {
  readonly wire: Wire;
  readonly type: string;
}

interface FieldRule {
  readonly number: number;
  /** Position among its type's fields: where checkMessage marks it seen. */
  readonly index: number;
  readonly wire: Wire;
  readonly repeated: boolean;
  /** A repeated scalar that may also come packed (wire type 2). */
  readonly packable: boolean;
  /** Index of the oneof this field belongs to, or -1. */
  readonly oneof: number;
  readonly sensitive: boolean;
  readonly sensitiveString: boolean;
  /** The rule of a message value (a message field, or a map's message values); undefined = not checked inside. */
  readonly message: TypeRule | undefined;
  /** A map field: its key and value rules, and the name its entries' errors give (built once, not per entry). */
  readonly map: { readonly key: KeyRule; readonly value: FieldRule; readonly entryName: string } | undefined;
}

interface TypeRule {
  readonly name: string;
  readonly fields: Map<number, FieldRule>;
  readonly fieldCount: number;
  readonly oneofs: number;
}

/** Compile the check for `typeName` (full name) of `root`; compile once per type, run per message. */
export function compileWireCheck(root: protobuf.Root, typeName: string, opts: WireCheckOptions = {}): WireCheck {
  const type = root.lookupType(typeName);
  const max = opts.maxEnvelopes ?? DEFAULT_MAX_ENVELOPES;
  if (!Number.isInteger(max) || max < 0) throw new RangeError('maxEnvelopes must be a non-negative integer');
  const rules = new RuleBuilder();
  const rule = rules.ruleOf(type);
  return (bytes) => {
    const count = { n: 0, max };
    if (rule) checkMessage(rule, bytes, 0, bytes.length, count);
    else skipAll(bytes, 0, bytes.length, typeName); // still well-formed protobuf
    return count.n;
  };
}

class RuleBuilder {
  readonly #rules = new Map<protobuf.Type, TypeRule | undefined>();
  readonly #holds = new Map<protobuf.Type, boolean>();

  /** True when `type` has a sensitive field at any depth (cycle-safe). */
  holdsSensitive(type: protobuf.Type, visiting = new Set<protobuf.Type>()): boolean {
    const known = this.#holds.get(type);
    if (known !== undefined) return known;
    if (visiting.has(type)) return false; // a cycle adds nothing new
    visiting.add(type);
    let holds = false;
    for (const f of type.fieldsArray) {
      f.resolve();
      if (f.options?.[SENSITIVE_OPTION] === true) holds = true;
      else if (isType(f.resolvedType) && this.holdsSensitive(f.resolvedType, visiting)) holds = true;
      if (holds) break;
    }
    visiting.delete(type);
    this.#holds.set(type, holds);
    return holds;
  }

  /** The strict rule of `type`, or undefined when nothing sensitive lies below it. */
  ruleOf(type: protobuf.Type): TypeRule | undefined {
    if (this.#rules.has(type)) return this.#rules.get(type);
    if (!this.holdsSensitive(type)) {
      this.#rules.set(type, undefined);
      return undefined;
    }
    const fields = new Map<number, FieldRule>();
    const rule: TypeRule = { name: type.fullName.replace(/^\./, ''), fields, fieldCount: type.fieldsArray.length, oneofs: type.oneofsArray.length };
    this.#rules.set(type, rule); // before the fields: recursive types refer to it
    const oneofIndex = new Map(type.oneofsArray.map((o, i) => [o, i]));
    type.fieldsArray.forEach((f, index) => fields.set(f.id, this.#fieldRule(rule.name, f, f.partOf ? (oneofIndex.get(f.partOf) ?? -1) : -1, index)));
    return rule;
  }

  #fieldRule(typeName: string, f: protobuf.Field, oneof: number, index: number): FieldRule {
    f.resolve();
    const sensitive = f.options?.[SENSITIVE_OPTION] === true;
    const mapField = f as protobuf.Field & { map?: boolean; keyType?: string };
    if (mapField.map) {
      const value = this.#valueRule(f, 2, sensitive);
      const keyType = mapField.keyType!;
      return {
        number: f.id, index, wire: Wire.Len, repeated: true, packable: false, oneof: -1, sensitive: false, sensitiveString: false,
        message: undefined, map: { key: { wire: WIRE_OF_SCALAR[keyType]!, type: keyType }, value, entryName: `${typeName} field ${f.id} (map entry)` },
      };
    }
    return { ...this.#valueRule(f, f.id, sensitive), index, repeated: f.repeated, oneof, packable: f.repeated && isPackable(f) };
  }

  /** The rule of a single value of field `f` (the field itself, or a map's value at number 2). */
  #valueRule(f: protobuf.Field, number: number, sensitive: boolean): FieldRule {
    const resolved = f.resolvedType;
    const isMessage = isType(resolved);
    const wire = isMessage ? Wire.Len : resolved ? Wire.Varint /* enum */ : WIRE_OF_SCALAR[f.type];
    if (wire === undefined) throw new RangeError(`field ${f.fullName}: unsupported type ${f.type}`);
    return {
      number, index: -1 /* a map's value: never marked */, wire, repeated: false, packable: false, oneof: -1, sensitive, sensitiveString: sensitive && f.type === 'string',
      message: isMessage ? this.ruleOf(resolved) : undefined, map: undefined,
    };
  }
}

function isType(obj: unknown): obj is protobuf.Type {
  return typeof obj === 'object' && obj !== null && Array.isArray((obj as protobuf.Type).fieldsArray);
}

function isPackable(f: protobuf.Field): boolean {
  if (f.resolvedType) return !isType(f.resolvedType); // enums pack
  const wire = WIRE_OF_SCALAR[f.type];
  return wire !== undefined && wire !== Wire.Len;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

interface Counter {
  n: number;
  readonly max: number;
}

function checkMessage(rule: TypeRule, buf: Uint8Array, start: number, end: number, count: Counter): void {
  // Per call, not per rule: a recursive type checks its nested copies with their own marks.
  const seen = new Uint8Array(rule.fieldCount);
  const oneofSeen = rule.oneofs > 0 ? new Int32Array(rule.oneofs) : undefined; // the member's number, 0 = none yet
  let maps: Map<number, Set<string>> | undefined;
  let pos = start;
  while (pos < end) {
    pos = readVarint(buf, pos, end, rule.name);
    const tag = varintValue;
    const number = Math.floor(tag / 8);
    const wire = tag % 8;
    if (number < 1) throw new WireFormatError(rule.name, number, 'is not a valid field number');
    const field = rule.fields.get(number);
    if (!field) throw new WireFormatError(rule.name, number, 'is not in the schema (unknown field)');
    const packed = field.packable && wire === Wire.Len;
    if (wire !== field.wire && !packed) {
      throw new WireFormatError(rule.name, number, `has wire type ${wire}, the schema's is ${field.wire}`);
    }
    if (!field.repeated) {
      if (seen[field.index] === 1) throw new WireFormatError(rule.name, number, 'occurs more than once (not a repeated field)');
      seen[field.index] = 1;
    }
    if (field.oneof >= 0 && oneofSeen) {
      const other = oneofSeen[field.oneof]!;
      if (other !== 0 && other !== number) throw new WireFormatError(rule.name, number, `is in the same oneof as field ${other}, which is also present`);
      oneofSeen[field.oneof] = number;
    }
    if (wire !== Wire.Len || packed) {
      pos = skipValue(buf, pos, end, wire, rule.name, number);
      continue;
    }
    // A length-delimited value: its content starts after the length prefix.
    const contentStart = readVarint(buf, pos, end, rule.name);
    pos = contentStart + varintValue;
    if (pos > end) throw truncated(rule.name);
    if (field.map) {
      checkMapEntry(rule, field, buf, contentStart, pos, count, (maps ??= new Map()));
    } else {
      checkValue(rule, field, buf, contentStart, pos, count);
    }
  }
}

function checkValue(parent: TypeRule, field: FieldRule, buf: Uint8Array, start: number, end: number, count: Counter): void {
  if (field.sensitive) {
    count.n++;
    if (count.n > count.max) throw new TooManyEnvelopesError(count.max);
    if (field.sensitiveString && !isUtf8(buf, start, end)) throw new WireFormatError(parent.name, field.number, 'is not valid UTF-8');
  } else if (field.message) {
    checkMessage(field.message, buf, start, end, count);
  }
  // Else a string, bytes or a message type with nothing sensitive below it: taken as one value.
}

function checkMapEntry(rule: TypeRule, field: FieldRule, buf: Uint8Array, start: number, end: number, count: Counter, maps: Map<number, Set<string>>): void {
  const map = field.map!;
  const entryName = map.entryName;
  let key: string | undefined;
  let hasValue = false;
  let pos = start;
  while (pos < end) {
    pos = readVarint(buf, pos, end, entryName);
    const tag = varintValue;
    const number = Math.floor(tag / 8);
    const wire = tag % 8;
    if (number === 1) {
      if (wire !== map.key.wire) throw new WireFormatError(rule.name, field.number, `has a map key with wire type ${wire}, the schema's is ${map.key.wire}`);
      if (key !== undefined) throw new WireFormatError(rule.name, field.number, 'has a map entry with two keys');
      const valueStart = pos;
      pos = skipValue(buf, pos, end, wire, rule.name, field.number);
      key = mapKeyText(map.key, buf, valueStart, pos, rule.name, field.number);
    } else if (number === 2) {
      if (wire !== map.value.wire) throw new WireFormatError(rule.name, field.number, `has a map value with wire type ${wire}, the schema's is ${map.value.wire}`);
      if (hasValue) throw new WireFormatError(rule.name, field.number, 'has a map entry with two values');
      hasValue = true;
      const valueStart = pos;
      pos = skipValue(buf, pos, end, wire, rule.name, field.number);
      if (wire === Wire.Len) checkValue(rule, map.value, buf, readVarint(buf, valueStart, end, entryName), pos, count);
    } else {
      throw new WireFormatError(rule.name, field.number, `has a map entry with field ${number} (only key 1 and value 2 exist)`);
    }
  }
  key ??= defaultKeyText(map.key);
  let keys = maps.get(field.number);
  if (!keys) maps.set(field.number, (keys = new Set()));
  if (keys.has(key)) throw new WireFormatError(rule.name, field.number, 'repeats a map key');
  keys.add(key);
}

/** A map key as comparable text: what a decoder would make of it (varints normalized, bools to 0/1). */
function mapKeyText(key: KeyRule, buf: Uint8Array, start: number, end: number, typeName: string, fieldNumber: number): string {
  switch (key.wire) {
    case Wire.Len: {
      const from = readVarint(buf, start, end, typeName);
      const ascii = end - from <= SHORT_KEY ? asciiKeyText(buf, from, end) : undefined;
      if (ascii !== undefined) return ascii;
      try {
        return `s:${utf8.decode(buf.subarray(from, end))}`;
      } catch {
        throw new WireFormatError(typeName, fieldNumber, 'has a map key that is not valid UTF-8');
      }
    }
    case Wire.Varint: {
      let v = readBigVarint(buf, start, end, typeName);
      // A decoder truncates 32-bit types and zigzag-decodes sint: normalize as it would.
      if (key.type === 'bool') v = v === 0n ? 0n : 1n;
      else if (key.type === 'int32' || key.type === 'uint32' || key.type === 'sint32') v = BigInt.asUintN(32, v);
      return `v:${v}`;
    }
    default:
      return `f:${Array.from(buf.subarray(start, end)).join(',')}`;
  }
}

/** String keys up to this many bytes are read by asciiKeyText first. */
const SHORT_KEY = 64;

/**
 * `s:` and the key, when buf[start, end) is all ASCII (its UTF-8 is then its
 * text); undefined otherwise. Map keys are usually short ASCII words: a JS
 * loop costs a tenth of TextDecoder's native call warm, and a fifth with cold
 * caches (bench field-crypto, docs/perf/journal.md "Cold caches").
 */
function asciiKeyText(buf: Uint8Array, start: number, end: number): string | undefined {
  let text = 's:';
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    if (b >= 0x80) return undefined;
    text += String.fromCharCode(b);
  }
  return text;
}

function defaultKeyText(key: KeyRule): string {
  return key.wire === Wire.Len ? 's:' : key.wire === Wire.Varint ? 'v:0' : `f:${key.wire === Wire.Fixed64 ? '0,0,0,0,0,0,0,0' : '0,0,0,0'}`;
}

/** Skips one value of `wire` type at `pos`; returns the position after it. */
function skipValue(buf: Uint8Array, pos: number, end: number, wire: number, typeName: string, fieldNumber: number): number {
  switch (wire) {
    case Wire.Varint:
      return readVarint(buf, pos, end, typeName);
    case Wire.Fixed64:
      if (pos + 8 > end) throw truncated(typeName);
      return pos + 8;
    case Wire.Fixed32:
      if (pos + 4 > end) throw truncated(typeName);
      return pos + 4;
    case Wire.Len: {
      const after = readVarint(buf, pos, end, typeName);
      if (after + varintValue > end) throw truncated(typeName);
      return after + varintValue;
    }
    default:
      throw new WireFormatError(typeName, fieldNumber, `has wire type ${wire} (groups are not accepted)`);
  }
}

/** Walks a message nothing sensitive lies in: only that it is well-formed protobuf. */
function skipAll(buf: Uint8Array, start: number, end: number, typeName: string): void {
  let pos = start;
  while (pos < end) {
    pos = readVarint(buf, pos, end, typeName);
    pos = skipValue(buf, pos, end, varintValue % 8, typeName, Math.floor(varintValue / 8));
  }
}

/** The value of the varint readVarint read last: a module slot rather than a tuple per call (a message has hundreds). */
let varintValue = 0;

/** Reads a varint at `pos` into varintValue (tags and lengths: at most 2^53, lengths checked against the buffer); returns the position after it. */
function readVarint(buf: Uint8Array, pos: number, end: number, typeName: string): number {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw truncated(typeName);
    const b = buf[pos++]!;
    value += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) {
      if (value > Number.MAX_SAFE_INTEGER) throw new WireFormatError(typeName, 0, 'has a length or tag out of range', true);
      varintValue = value;
      return pos;
    }
    scale *= 128;
  }
  throw new WireFormatError(typeName, 0, 'has a varint longer than 10 bytes', true);
}

/** True when buf[start, end) is valid UTF-8. Envelopes are base64url text: all ASCII, checked byte by byte without decoding. */
function isUtf8(buf: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    if (buf[i]! >= 0x80) {
      try {
        utf8.decode(buf.subarray(i, end)); // from the first non-ASCII byte: what precedes is ASCII
        return true;
      } catch {
        return false;
      }
    }
  }
  return true;
}

function readBigVarint(buf: Uint8Array, pos: number, end: number, typeName: string): bigint {
  let value = 0n;
  let shift = 0n;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw truncated(typeName);
    const b = buf[pos++]!;
    value |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return BigInt.asUintN(64, value);
    shift += 7n;
  }
  throw new WireFormatError(typeName, 0, 'has a varint longer than 10 bytes', true);
}

function truncated(typeName: string): WireFormatError {
  return new WireFormatError(typeName, 0, 'is truncated', true);
}
