// The alg 3/4 part of FieldCipher (docs/envelope-hpke.md): sealing a value to
// an X25519 key version whose private key the caller holds (a processor
// sealing a response or a stored record), and opening an alg 3/4 value with
// the sender check of §5. field-crypto's walk stays in field-cipher.ts, which
// only dispatches here. HPKE is asynchronous (Web Crypto HKDF), so callers
// hand over their own copies of the AAD and plaintext.
import { aadPrefix, joinAadViewPath, lengthPrefixed } from './aad.js';
import type { CipherBackend } from './backend.js';
import { encodeBase64url } from './base64url.js';
import { HPKE_AUTH_ALG, HPKE_BASE_ALG } from './envelope.js';
import { DecryptionError, InvalidFieldValueError, MessageChangedError } from './errors.js';
import { encodeHpkeHeader, hpkeOpenRaw, hpkeSealRaw, parseHpkeEnvelope, type HpkeEnvelope } from './hpke-envelope.js';
import { UnknownSenderError, type SenderPolicy } from './hpke-senders.js';
import { x25519PublicKey, type HpkeKemImpl } from './hpke-suite.js';
import type { KeyVersionMaterial, SecretKey } from './key-provider.js';
import type { RandomSource } from './random.js';
import type { MessagePlan } from './schema.js';
import { sealRaw } from './seal-envelope.js';
import type { SealHeader } from './seal-walk.js';
import { collectSlots, slotPath, type Slot } from './walk.js';

/** FieldCipher's HPKE options (FieldCipherOptions.hpke). */
export interface HpkeCipherOptions {
  /**
   * Registered device keys (alg 4) and which tenants require them (§5).
   * Default: no device is registered, so every alg 4 envelope is UNKNOWN_SENDER.
   */
  readonly senders?: SenderPolicy;
  /** X25519 implementation; default `noble`. A Node service may pick `webcrypto` (faster). */
  readonly kem?: HpkeKemImpl;
}

/** Told which registered device sealed an opened alg 4 value. */
export type SenderListener = (fieldPath: string, deviceId: string) => void;

/** The envelope alg of key material from an X25519 ring (KeyVersionMaterial.alg). */
export const X25519_MATERIAL_ALG = HPKE_BASE_ALG;

/** True for material that is an X25519 private key (alg 3), false for a symmetric key. */
export function isX25519Material(material: Pick<KeyVersionMaterial, 'alg'>): boolean {
  return material.alg === X25519_MATERIAL_ALG;
}

// pk(skR) computed once per key object (an X25519 base-point multiplication);
// the key objects come and go with the KeyProvider's cache.
const publicKeys = new WeakMap<SecretKey, Uint8Array>();

/** The public key of an X25519 private key material. */
export function recipientPublicKey(material: KeyVersionMaterial): Uint8Array {
  let pk = publicKeys.get(material.key);
  if (!pk) {
    pk = x25519PublicKey(material.key.exposeBytes());
    publicKeys.set(material.key, pk);
  }
  return pk;
}

/**
 * Seals one value as alg 3 to `material`'s public key. `header` must be the
 * alg 3 header of material.version and `aad` the v1 AAD over it; both, and
 * `plaintext`, must be the caller's own copies (they are read after an await).
 */
export function sealHpkeValue(material: KeyVersionMaterial, header: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, kem?: HpkeKemImpl): Promise<Uint8Array> {
  return hpkeSealRaw({ header, recipientPublicKey: recipientPublicKey(material), aad, plaintext, ...(kem ? { kem } : {}) });
}

export interface OpenHpkeValue {
  readonly bytes: Uint8Array;
  readonly fieldPath: string;
  readonly tenant: string;
  /** The key version named by the envelope header; must be X25519 material. */
  readonly material: KeyVersionMaterial;
  /** The caller's own copy of the v1 AAD over the envelope's header. */
  readonly aad: Uint8Array;
  readonly options: HpkeCipherOptions | undefined;
  readonly onSender?: SenderListener;
}

/**
 * The sender check of §5, before any key is used: an alg 4 envelope's device
 * must be registered for the tenant; a tenant that requires devices takes no
 * alg 3 envelope. Returns the parsed envelope and the device id (alg 4).
 */
export function checkHpkeSender(
  bytes: Uint8Array,
  fieldPath: string,
  tenant: string,
  senders: SenderPolicy | undefined,
): { envelope: HpkeEnvelope; deviceId: string | undefined } {
  const envelope = parseHpkeEnvelope(bytes, fieldPath);
  if (envelope.alg === HPKE_AUTH_ALG) {
    const deviceId = senders?.deviceOf(tenant, envelope.senderPublicKey!);
    if (deviceId === undefined) throw new UnknownSenderError(fieldPath, 'unregistered-device');
    return { envelope, deviceId };
  }
  if (senders?.requiresSender(tenant)) throw new UnknownSenderError(fieldPath, 'sender-required');
  return { envelope, deviceId: undefined };
}

/** Opens one alg 3/4 value (DecryptionError naming the field on any failure). */
export async function openHpkeValue(o: OpenHpkeValue): Promise<Uint8Array> {
  const { envelope, deviceId } = checkHpkeSender(o.bytes, o.fieldPath, o.tenant, o.options?.senders);
  // An alg 3/4 envelope opens only with an X25519 private key (§2).
  if (!isX25519Material(o.material)) throw new DecryptionError(o.fieldPath);
  let plaintext: Uint8Array;
  try {
    plaintext = await hpkeOpenRaw({ envelope, recipientPrivateKey: o.material.key, aad: o.aad, ...(o.options?.kem ? { kem: o.options.kem } : {}) });
  } catch (err) {
    if (err instanceof DecryptionError) throw new DecryptionError(o.fieldPath);
    throw err;
  }
  if (deviceId !== undefined) o.onSender?.(o.fieldPath, deviceId);
  return plaintext;
}

/** What sealWithHpke needs from FieldCipher.sealMessage, per ring index of the plan. */
export interface HpkeSealInput {
  readonly plan: MessagePlan;
  readonly src: Record<string, unknown>;
  readonly tenant: string;
  readonly materials: readonly (KeyVersionMaterial | undefined)[];
  /** Headers and AAD prefixes of the symmetric rings (undefined for X25519 rings). */
  readonly symmetric: readonly (SealHeader | undefined)[];
  readonly backend: CipherBackend;
  readonly random: RandomSource;
  readonly context: string;
  readonly kem: HpkeKemImpl | undefined;
}

const utf8 = new TextEncoder();

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * FieldCipher.sealMessage for a message with at least one X25519 ring in use:
 * values of X25519 rings become alg 3 envelopes to the primary's public key,
 * the others symmetric envelopes as usual (same paths and AAD, spec §3).
 * Every AAD and plaintext handed to HPKE is this call's own copy; the HPKE
 * work starts only once every value has been checked, so a failure leaves no
 * operation running unobserved.
 */
export async function sealWithHpke(input: HpkeSealInput): Promise<Record<string, unknown>> {
  const { plan, materials } = input;
  const slots: Slot[] = [];
  const out = collectSlots(plan.root, input.src, undefined, true, slots);
  const lpTenant = lengthPrefixed(input.tenant);
  const lpContext = lengthPrefixed(input.context);
  const hpkeHeaders = new Map<number, { header: Uint8Array; prefix: Uint8Array }>();
  const jobs: Array<() => Promise<void>> = [];
  for (const slot of slots) {
    const { field } = slot;
    const path = slotPath(slot);
    const isBytes = field.valueType === 'bytes';
    if (isBytes ? !(slot.value instanceof Uint8Array) : typeof slot.value !== 'string') {
      throw new InvalidFieldValueError(path, field.fieldName, isBytes ? 'a Uint8Array' : 'a string');
    }
    const material = materials[field.ringIndex];
    if (!material) throw new MessageChangedError(path);
    const target = slot.target as Record<string | number, unknown>;
    if (isX25519Material(material)) {
      let h = hpkeHeaders.get(field.ringIndex);
      if (!h) {
        const header = encodeHpkeHeader(HPKE_BASE_ALG, material.version);
        h = { header, prefix: aadPrefix(header, lpTenant, plan.lpTypeName) };
        hpkeHeaders.set(field.ringIndex, h);
      }
      const { header } = h;
      const aad = concat(h.prefix, lengthPrefixed(path), lpContext);
      // A copy (new Uint8Array, not .slice(): a Node Buffer's slice is a view).
      const plaintext = isBytes ? new Uint8Array(slot.value as Uint8Array) : utf8.encode(slot.value as string);
      jobs.push(async () => {
        try {
          const envelope = await sealHpkeValue(material, header, aad, plaintext, input.kem);
          target[slot.key] = isBytes ? envelope : encodeBase64url(envelope);
        } finally {
          plaintext.fill(0);
        }
      });
    } else {
      const h = input.symmetric[field.ringIndex];
      if (!h) throw new MessageChangedError(path);
      const aad = joinAadViewPath(h.prefix, path, lpContext);
      const plaintext = isBytes ? (slot.value as Uint8Array) : utf8.encode(slot.value as string);
      try {
        const envelope = sealRaw(input.backend, h.alg, h.header, material.key.exposeBytes(), aad, input.random, plaintext);
        target[slot.key] = isBytes ? envelope : encodeBase64url(envelope);
      } finally {
        if (!isBytes) plaintext.fill(0);
      }
    }
  }
  await Promise.all(jobs.map((job) => job()));
  return out;
}
