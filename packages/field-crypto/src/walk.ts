// The descriptor-driven walk over ts-proto plain objects (camelCase
// properties, bytes = Uint8Array, maps = plain objects, oneof members =
// optional properties, nested messages possibly undefined). It follows a
// MessagePlan and collects every non-empty sensitive value as a Slot; with
// `copy` it also builds a copy of the message along those paths (copy on
// write: untouched subtrees are shared, the input is never mutated), so the
// caller can write each sealed/opened value into its slot afterwards.
import { InvalidFieldValueError } from './errors.js';
import { mapKeyExpectation, mapKeyText } from './field-path.js';
import type { FieldPlan, NodePlan, SensitiveFieldPlan } from './schema.js';

type Container = Record<string, unknown> | unknown[];

/** One sensitive value and where its replacement goes. */
export interface Slot {
  readonly target: Container;
  readonly key: string | number;
  readonly value: unknown;
  readonly field: SensitiveFieldPlan;
  /** Path (spec §3) when it differs from field.path (under a map, or a map value). */
  readonly dynamicPath: string | undefined;
}

export function slotPath(slot: Slot): string {
  return slot.dynamicPath ?? slot.field.path;
}

/**
 * Empty values stay as they are, unsealed: proto3 cannot tell an unset
 * string/bytes field from an empty one (both are absent on the wire), so an
 * envelope for "" would turn every unset field into ciphertext and every
 * message into one with all sensitive fields present. The length of an empty
 * value is zero either way; nothing is revealed by leaving it empty.
 */
export function isEmpty(v: unknown): boolean {
  return (typeof v === 'string' || v instanceof Uint8Array) && v.length === 0;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

export function isMessageObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function invalid(field: FieldPlan, path: string, expected: string): InvalidFieldValueError {
  return new InvalidFieldValueError(path, field.fieldName, expected);
}

/**
 * The path of the value under `key` in map field `field` whose own path is
 * `base`: `<base>[<key text>]` (spec §3, field-path.ts). A key its type cannot
 * have (InvalidFieldValueError naming the map, never the key) is refused by
 * every walker alike, before any key is asked for.
 */
export function mapValuePath(field: FieldPlan, base: string, key: string): string {
  const text = mapKeyText(field.mapKeyType!, key);
  if (text === undefined) throw invalid(field, base, mapKeyExpectation(field.mapKeyType!));
  return `${base}[${text}]`;
}

/** Collects the slots of `src` (a message at `node`); returns `src` or its copy. */
export function collectSlots(
  node: NodePlan,
  src: Record<string, unknown>,
  prefix: string | undefined,
  copy: boolean,
  slots: Slot[],
): Record<string, unknown> {
  const out = copy ? { ...src } : src;
  for (const field of node.fields) {
    const value = src[field.prop];
    if (value === undefined || value === null) continue;
    // Path of this field when a map lies above it; otherwise the plan's static path.
    const dyn = prefix === undefined ? undefined : `${prefix}.${field.number}`;
    if (field.kind === 'sensitive') {
      collectSensitive(field, value, dyn, out, copy, slots);
    } else {
      collectNested(field, value, dyn, out, copy, slots);
    }
  }
  return out;
}

function collectSensitive(
  field: SensitiveFieldPlan,
  value: unknown,
  dyn: string | undefined,
  out: Record<string, unknown>,
  copy: boolean,
  slots: Slot[],
): void {
  if (field.shape === 'singular') {
    if (!isEmpty(value)) slots.push({ target: out, key: field.prop, value, field, dynamicPath: dyn });
  } else if (field.shape === 'repeated') {
    if (!Array.isArray(value)) throw invalid(field, dyn ?? field.path, 'an array');
    const arr = copy ? value.slice() : value;
    if (copy) out[field.prop] = arr;
    for (let i = 0; i < arr.length; i++) {
      // Repeated indexes are not part of the path (spec §3).
      if (!isEmpty(arr[i])) slots.push({ target: arr, key: i, value: arr[i], field, dynamicPath: dyn });
    }
  } else {
    if (!isPlainObject(value)) throw invalid(field, dyn ?? field.path, 'a plain object (map)');
    const map = copy ? { ...value } : value;
    if (copy) out[field.prop] = map;
    const base = dyn ?? field.path;
    for (const key of Object.keys(map)) {
      // A map value is addressed as <field number>[<key text>] (spec §3).
      const path = mapValuePath(field, base, key);
      if (!isEmpty(map[key])) slots.push({ target: map, key, value: map[key], field, dynamicPath: path });
    }
  }
}

function collectNested(
  field: Extract<FieldPlan, { kind: 'nested' }>,
  value: unknown,
  dyn: string | undefined,
  out: Record<string, unknown>,
  copy: boolean,
  slots: Slot[],
): void {
  const path = dyn ?? field.path;
  if (field.shape === 'singular') {
    if (!isMessageObject(value)) throw invalid(field, path, 'a message object');
    const res = collectSlots(field.node, value, dyn, copy, slots);
    if (copy) out[field.prop] = res;
  } else if (field.shape === 'repeated') {
    if (!Array.isArray(value)) throw invalid(field, path, 'an array');
    const arr = copy ? value.slice() : value;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item === undefined || item === null) continue;
      if (!isMessageObject(item)) throw invalid(field, path, 'message objects');
      const res = collectSlots(field.node, item, dyn, copy, slots);
      if (copy) arr[i] = res;
    }
    if (copy) out[field.prop] = arr;
  } else {
    if (!isPlainObject(value)) throw invalid(field, path, 'a plain object (map)');
    const map = copy ? { ...value } : value;
    for (const key of Object.keys(value)) {
      const itemPath = mapValuePath(field, path, key);
      const item = value[key];
      if (item === undefined || item === null) continue;
      if (!isMessageObject(item)) throw invalid(field, path, 'message objects');
      const res = collectSlots(field.node, item, itemPath, copy, slots);
      if (copy) map[key] = res;
    }
    if (copy) out[field.prop] = map;
  }
}
