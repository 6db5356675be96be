// Key-less checks for the gateway: every sensitive value must already be an
// envelope (plaintext is refused), and the tenant must be present.
import { decodeBase64url } from './base64url.js';
import { FieldCryptoError, PlaintextInSensitiveFieldError } from './errors.js';
import { headerOf, tenantOf } from './field-cipher.js';
import type { CompiledSchema } from './schema.js';
import { collectSlots, slotPath, type Slot } from './walk.js';

/**
 * Throws PlaintextInSensitiveFieldError (naming field path and name, never
 * the value) unless every non-empty sensitive value of `message` is a
 * well-formed envelope: parsed only, no key. String values are validated as
 * base64url and only their header is decoded. Returns how many envelopes it checked.
 */
export function checkSealed(schema: CompiledSchema, typeName: string, message: unknown): number {
  return sealedSlots(schema, typeName, message).length;
}

/** One sensitive value of a checked message: what an edge needs to decide who may send it. */
export interface SealedValue {
  /** Field path (spec §3), e.g. `5.1`. */
  readonly path: string;
  readonly fieldName: string;
  /** Envelope alg: 1/2 symmetric (a secret key sealed it), 3/4 HPKE (public keys). */
  readonly alg: number;
  /** alg 4 only: the sealing device's X25519 public key (pkS, bytes 6..38). */
  readonly senderPublicKey?: Uint8Array;
}

/**
 * checkSealed's checks, returning each envelope's alg (and for alg 4 its
 * sender key) instead of a count: the gateway's public edge refuses
 * symmetric envelopes and checks alg 4 senders against enrolled devices.
 */
export function sealedValues(schema: CompiledSchema, typeName: string, message: unknown): SealedValue[] {
  return sealedSlots(schema, typeName, message).map((slot) => {
    const h = headerOf(slot);
    const path = slotPath(slot);
    if (h.alg !== 4) return { path, fieldName: slot.field.fieldName, alg: h.alg };
    const bytes = slot.value instanceof Uint8Array ? slot.value : decodeBase64url(slot.value as string, path);
    return { path, fieldName: slot.field.fieldName, alg: h.alg, senderPublicKey: bytes.slice(6, 38) };
  });
}

function sealedSlots(schema: CompiledSchema, typeName: string, message: unknown): Slot[] {
  const plan = schema.plan(typeName);
  if (!plan.hasSensitive) return [];
  const slots: Slot[] = [];
  try {
    collectSlots(plan.root, message as Record<string, unknown>, undefined, false, slots);
  } catch (err) {
    if (err instanceof FieldCryptoError && 'fieldPath' in err && 'fieldName' in err) {
      throw new PlaintextInSensitiveFieldError(String(err.fieldPath), String(err.fieldName));
    }
    throw err;
  }
  for (const slot of slots) {
    if (!isEnvelope(slot)) throw new PlaintextInSensitiveFieldError(slotPath(slot), slot.field.fieldName);
  }
  return slots;
}

/** True when the slot holds a well-formed envelope (the checks FieldCipher.openMessage runs before asking for keys). */
function isEnvelope(slot: Slot): boolean {
  try {
    headerOf(slot);
    return true;
  } catch {
    return false;
  }
}

/** The tenant id of `message` (its `(fle.v1.tenant_field)`); SchemaError / MissingTenantError otherwise. */
export function readTenant(schema: CompiledSchema, typeName: string, message: unknown): string {
  return tenantOf(schema.plan(typeName), message);
}
