// Opening, on a device, the sensitive values of a message that were sealed to
// that device's own X25519 key (alg 3 with the device public key as the
// recipient): what an app does with a response from the gateway's edge. A
// value sealed to anything else (a tenant's ring: only the processor's side
// can open it) stays sealed as it came; which paths were opened is returned.
import { base64urlDecodedLength, decodeBase64url } from './base64url.js';
import { parseHpkeEnvelope, openHpkeEnvelope } from './hpke-envelope.js';
import type { CompiledSchema } from './schema.js';
import { collectSlots, slotPath, type Slot } from './walk.js';

export interface OpenFieldsForOptions {
  /** The device's X25519 private key (32 bytes). */
  readonly privateKey: Uint8Array;
  readonly tenant: string;
  /** The context the values were bound to: the request's `req/<timestamp>/<nonce>`. */
  readonly context: string;
}

/** Opens in place every HPKE value of `message` sealed to `privateKey`'s public key; returns their paths. */
export async function openFieldsFor(schema: CompiledSchema, typeName: string, message: object, opts: OpenFieldsForOptions): Promise<string[]> {
  const plan = schema.plan(typeName);
  if (!plan.hasSensitive) return [];
  const slots: Slot[] = [];
  collectSlots(plan.root, message as Record<string, unknown>, undefined, false, slots);
  const opened: string[] = [];
  for (const slot of slots) {
    const path = slotPath(slot);
    let bytes: Uint8Array;
    try {
      if (slot.value instanceof Uint8Array) bytes = slot.value;
      else if (typeof slot.value === 'string' && base64urlDecodedLength(slot.value, path) > 6) bytes = decodeBase64url(slot.value, path);
      else continue;
      const env = parseHpkeEnvelope(bytes, path);
      const plaintext = await openHpkeEnvelope(env, {
        recipientPrivateKey: opts.privateKey,
        binding: { tenant: opts.tenant, messageType: typeName, fieldPath: path, context: opts.context },
      });
      (slot.target as Record<string | number, unknown>)[slot.key] = slot.field.valueType === 'bytes' ? plaintext : new TextDecoder('utf-8', { fatal: true }).decode(plaintext);
      opened.push(path);
    } catch {
      // Not an HPKE envelope, or sealed to another recipient: left as it is.
    }
  }
  return opened;
}
