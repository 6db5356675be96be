// The seal side of the walk, without per-value bookkeeping:
// - usedRings: which key rings hold a non-empty value (and are all values of
//   the right JS type?), so sealMessage asks only for the keys it needs;
// - sealNode, once the keys are at hand: copies the message along the plan's
//   paths (copy on write, the input is never mutated) and seals each value
//   in place. It checks the JS types as usedRings does (same errors), so when
//   every ring's primary is already cached sealMessage runs it alone, one pass.
// Same traversal and paths as walk.ts (spec §3).
import { joinAadView, joinAadViewPath } from './aad.js';
import type { CipherBackend } from './backend.js';
import { base64urlEncoderFor } from './base64url.js';
import { envelopeLength, HEADER_LENGTH } from './envelope.js';
import { InvalidFieldValueError, MessageChangedError } from './errors.js';
import type { SymmetricAlg } from './key-provider.js';
import type { RandomSource } from './random.js';
import type { FieldPlan, NestedFieldPlan, NodePlan, SensitiveFieldPlan } from './schema.js';
import { Scratch } from './scratch.js';
import { sealInto, sealRaw } from './seal-envelope.js';
import { utf8EncodeInto } from './utf8.js';
import { isEmpty, isMessageObject, isPlainObject, mapValuePath } from './walk.js';

/** Header and AAD prefix for sealing under one (ring, alg, key version). */
export interface SealHeader {
  readonly alg: SymmetricAlg;
  readonly version: number;
  readonly header: Uint8Array;
  /** magic || header || lp(tenant) || lp(message_type) (spec §3). */
  readonly prefix: Uint8Array;
}

/** What pass 2 needs, per ring index of the plan. */
export interface SealContext {
  readonly backend: CipherBackend;
  readonly random: RandomSource;
  readonly lpContext: Uint8Array;
  readonly headers: readonly (SealHeader | undefined)[];
  readonly keys: readonly (Uint8Array | undefined)[];
}

// A string field's plaintext bytes and its envelope before base64url live for
// one synchronous seal only (scratch.ts); the plaintext is wiped right after.
const plaintextScratch = new Scratch(1024);
const envelopeScratch = new Scratch(1024);
const envelopeNonce = (out: Uint8Array, n: number): Uint8Array => envelopeScratch.view(out, n, HEADER_LENGTH);
let encoderBuffer: Uint8Array | undefined;
let encoder: (n: number) => string = () => '';

/** base64url of out[0..n), with an encoder kept for the (rarely changing) scratch buffer. */
function encodeEnvelope(out: Uint8Array, n: number): string {
  if (out !== encoderBuffer) {
    encoder = base64urlEncoderFor(out);
    // One-off buffers (values over 64 KiB) are not kept.
    encoderBuffer = out === envelopeScratch.buffer(0) ? out : undefined;
  }
  return encoder(n);
}

const pathOf = (field: FieldPlan, dyn: string | undefined): string => dyn ?? field.path;

/** Marks used[ringIndex] for every ring holding a non-empty value; throws on wrong JS types. */
export function usedRings(node: NodePlan, src: Record<string, unknown>, dyn: string | undefined, used: boolean[]): void {
  for (const field of node.fields) {
    const value = src[field.prop];
    if (value === undefined || value === null) continue;
    const fieldDyn = dyn === undefined ? undefined : `${dyn}.${field.number}`;
    if (field.kind === 'sensitive') {
      if (field.shape === 'singular') {
        if (checkValue(field, value, fieldDyn)) used[field.ringIndex] = true;
      } else if (field.shape === 'repeated') {
        if (!Array.isArray(value)) throw invalid(field, fieldDyn, 'an array');
        for (let i = 0; i < value.length; i++) if (checkValue(field, value[i], fieldDyn)) used[field.ringIndex] = true;
      } else {
        if (!isPlainObject(value)) throw invalid(field, fieldDyn, 'a plain object (map)');
        const base = pathOf(field, fieldDyn);
        for (const key of Object.keys(value)) {
          if (checkValue(field, value[key], mapValuePath(field, base, key))) used[field.ringIndex] = true;
        }
      }
    } else {
      usedRingsNested(field, value, fieldDyn, used);
    }
  }
}

/** A copy of `src` with every non-empty sensitive value sealed; throws on wrong JS types (as usedRings). */
export function sealNode(node: NodePlan, src: Record<string, unknown>, dyn: string | undefined, ctx: SealContext): Record<string, unknown> {
  const out = { ...src };
  for (const field of node.fields) {
    const value = src[field.prop];
    if (value === undefined || value === null) continue;
    const fieldDyn = dyn === undefined ? undefined : `${dyn}.${field.number}`;
    if (field.kind === 'sensitive') {
      if (field.shape === 'singular') {
        if (!isEmpty(value)) out[field.prop] = sealValue(field, value, fieldDyn, ctx);
      } else if (field.shape === 'repeated') {
        if (!Array.isArray(value)) throw invalid(field, fieldDyn, 'an array');
        const arr = value.slice();
        for (let i = 0; i < arr.length; i++) if (!isEmpty(arr[i])) arr[i] = sealValue(field, arr[i], fieldDyn, ctx);
        out[field.prop] = arr;
      } else {
        if (!isPlainObject(value)) throw invalid(field, fieldDyn, 'a plain object (map)');
        const map = { ...value };
        const base = pathOf(field, fieldDyn);
        for (const key of Object.keys(map)) {
          // A map value is addressed as <field number>[<key text>] (spec §3).
          const path = mapValuePath(field, base, key);
          if (!isEmpty(map[key])) map[key] = sealValue(field, map[key], path, ctx);
        }
        out[field.prop] = map;
      }
    } else if (field.shape === 'singular') {
      if (!isMessageObject(value)) throw invalid(field, fieldDyn, 'a message object');
      out[field.prop] = sealNode(field.node, value, fieldDyn, ctx);
    } else if (field.shape === 'repeated') {
      if (!Array.isArray(value)) throw invalid(field, fieldDyn, 'an array');
      const arr = value.slice();
      for (let i = 0; i < arr.length; i++) {
        const item: unknown = arr[i];
        if (item === undefined || item === null) continue;
        if (!isMessageObject(item)) throw invalid(field, fieldDyn, 'message objects');
        arr[i] = sealNode(field.node, item, fieldDyn, ctx);
      }
      out[field.prop] = arr;
    } else {
      if (!isPlainObject(value)) throw invalid(field, fieldDyn, 'a plain object (map)');
      const map = { ...value };
      const base = pathOf(field, fieldDyn);
      for (const key of Object.keys(map)) {
        const path = mapValuePath(field, base, key);
        const item = map[key];
        if (item === undefined || item === null) continue;
        if (!isMessageObject(item)) throw invalid(field, fieldDyn, 'message objects');
        map[key] = sealNode(field.node, item, path, ctx);
      }
      out[field.prop] = map;
    }
  }
  return out;
}

/** Seals one value: bytes -> binary envelope, string -> base64url text (spec §5). */
function sealValue(field: SensitiveFieldPlan, value: unknown, dyn: string | undefined, ctx: SealContext): unknown {
  const h = ctx.headers[field.ringIndex];
  const key = ctx.keys[field.ringIndex];
  // Only if the message changed while its keys were being fetched.
  if (h === undefined || key === undefined) throw new MessageChangedError(pathOf(field, dyn));
  const aad = dyn === undefined ? joinAadView(h.prefix, field.lpPath, ctx.lpContext) : joinAadViewPath(h.prefix, dyn, ctx.lpContext);
  if (field.valueType === 'bytes') {
    if (!(value instanceof Uint8Array)) throw new InvalidFieldValueError(pathOf(field, dyn), field.fieldName, 'a Uint8Array');
    return sealRaw(ctx.backend, h.alg, h.header, key, aad, ctx.random, value);
  }
  if (typeof value !== 'string') throw new InvalidFieldValueError(pathOf(field, dyn), field.fieldName, 'a string');
  const text = ctx.backend.sealText?.(h.alg, h.header, key, aad, value, ctx.random);
  if (text !== undefined) return text;
  // The plaintext bytes and the envelope only exist long enough to become base64url text.
  const plaintext = utf8EncodeInto(value, plaintextScratch);
  const length = envelopeLength(h.alg, plaintext.length);
  const envelope = envelopeScratch.buffer(length);
  try {
    sealInto(envelope, ctx.backend, h.alg, h.header, key, aad, ctx.random, plaintext, envelopeNonce);
  } finally {
    plaintext.fill(0);
  }
  return encodeEnvelope(envelope, length);
}

/** True when `value` must be sealed (non-empty); throws when it has the wrong JS type. */
function checkValue(field: SensitiveFieldPlan, value: unknown, dyn: string | undefined): boolean {
  if (field.valueType === 'bytes' ? value instanceof Uint8Array : typeof value === 'string') return (value as string | Uint8Array).length > 0;
  throw new InvalidFieldValueError(pathOf(field, dyn), field.fieldName, field.valueType === 'bytes' ? 'a Uint8Array' : 'a string');
}

function invalid(field: FieldPlan, dyn: string | undefined, expected: string): InvalidFieldValueError {
  return new InvalidFieldValueError(pathOf(field, dyn), field.fieldName, expected);
}

/** usedRings over the messages a nested field holds (singular, repeated or map values). */
function usedRingsNested(field: NestedFieldPlan, value: unknown, dyn: string | undefined, used: boolean[]): void {
  if (field.shape === 'singular') {
    if (!isMessageObject(value)) throw invalid(field, dyn, 'a message object');
    usedRings(field.node, value, dyn, used);
  } else if (field.shape === 'repeated') {
    if (!Array.isArray(value)) throw invalid(field, dyn, 'an array');
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item === undefined || item === null) continue;
      if (!isMessageObject(item)) throw invalid(field, dyn, 'message objects');
      usedRings(field.node, item, dyn, used);
    }
  } else {
    if (!isPlainObject(value)) throw invalid(field, dyn, 'a plain object (map)');
    const base = pathOf(field, dyn);
    for (const key of Object.keys(value)) {
      const path = mapValuePath(field, base, key);
      const item = value[key];
      if (item === undefined || item === null) continue;
      if (!isMessageObject(item)) throw invalid(field, dyn, 'message objects');
      usedRings(field.node, item, path, used);
    }
  }
}
