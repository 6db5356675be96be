// Key-less checks for the gateway: every sensitive value must already be an
// envelope (plaintext is refused), and the tenant must be present.
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
  const plan = schema.plan(typeName);
  if (!plan.hasSensitive) return 0;
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
  return slots.length;
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
