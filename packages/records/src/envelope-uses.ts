// Which (key ring, key version) pairs a message's envelopes use, read from
// the envelope headers (envelope-v1 §1) without any key: the rewrap decides
// from this whether a record needs work, and the destroy check counts records
// still on a version, both without opening anything.
//
// The walk follows field-crypto's MessagePlan (the same plan FieldCipher
// walks) over a decoded message. field-crypto exports no header-only walk;
// this is the small one the two tools need.
import {
  base64urlDecodedLength,
  checkLength,
  decodeBase64urlHeaderInto,
  EnvelopeFormatError,
  HEADER_LENGTH,
  readHeader,
  type CompiledSchema,
  type EnvelopeAlg,
  type NodePlan,
  type SensitiveFieldPlan,
} from '@fle/field-crypto';

export interface EnvelopeUse {
  readonly ring: string;
  readonly keyVersion: number;
  readonly alg: EnvelopeAlg;
}

/** The distinct (ring, key version, alg) of every envelope in `message` (a decoded `typeName`). Throws EnvelopeFormatError for a value that is not an envelope. */
export function envelopeUses(schema: CompiledSchema, typeName: string, message: unknown): EnvelopeUse[] {
  const plan = schema.plan(typeName);
  const found = new Map<string, EnvelopeUse>();
  if (plan.hasSensitive && isObject(message)) walk(plan.root, message, found);
  return [...found.values()];
}

const header = new Uint8Array(HEADER_LENGTH);

function walk(node: NodePlan, msg: Record<string, unknown>, found: Map<string, EnvelopeUse>): void {
  for (const field of node.fields) {
    const value = msg[field.prop];
    if (value === undefined || value === null) continue;
    for (const v of valuesOf(field.shape, value)) {
      if (field.kind === 'sensitive') note(field, v, found);
      else if (isObject(v)) walk(field.node, v, found);
    }
  }
}

function valuesOf(shape: 'singular' | 'repeated' | 'map', value: unknown): unknown[] {
  if (shape === 'singular') return [value];
  if (shape === 'repeated') return Array.isArray(value) ? value : [];
  return isObject(value) ? Object.values(value) : [];
}

function note(field: SensitiveFieldPlan, value: unknown, found: Map<string, EnvelopeUse>): void {
  if ((typeof value === 'string' || value instanceof Uint8Array) && value.length === 0) return; // empty values stay clear (field-crypto walk.ts)
  let h: { alg: EnvelopeAlg; keyVersion: number };
  if (value instanceof Uint8Array) {
    h = readHeader(value, field.path);
    checkLength(h.alg, value.length, field.path);
  } else if (typeof value === 'string') {
    const length = base64urlDecodedLength(value, field.path);
    if (length < HEADER_LENGTH) throw new EnvelopeFormatError(`envelope too short: ${length} bytes`, field.path);
    h = readHeader(decodeBase64urlHeaderInto(value, header), field.path);
    checkLength(h.alg, length, field.path);
  } else {
    throw new EnvelopeFormatError('sealed field holds neither a string nor bytes', field.path);
  }
  const id = `${field.ring}\u0000${h.keyVersion}\u0000${h.alg}`;
  if (!found.has(id)) found.set(id, { ring: field.ring, keyVersion: h.keyVersion, alg: h.alg });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}
