// Sealing a whole message knowing only public keys (docs/envelope-hpke.md §4):
// the same walk as FieldCipher (schema plans, walk.ts), every non-empty
// sensitive value sealed as an alg 3 envelope (or alg 4 with a device key)
// to the primary X25519 public key of its tenant's key ring. For untrusted
// clients (browsers, apps): no secret ships with them, and what they seal only
// a holder of the ring's private key (the processor) can open.
import { buildAad } from './aad.js';
import { decodeBase64url, encodeBase64url } from './base64url.js';
import { InvalidFieldValueError, UnknownKeyRingError } from './errors.js';
import { tenantOf } from './field-cipher.js';
import { HPKE_AUTH_ALG, HPKE_BASE_ALG } from './envelope.js';
import { encodeHpkeHeader, hpkeSealRaw, type SenderKeyPair } from './hpke-envelope.js';
import { assertX25519Key, type HpkeKemImpl } from './hpke-suite.js';
import type { KeyRingRef } from './key-provider.js';
import { DEFAULT_KEY_RING, type CompiledSchema } from './schema.js';
import { collectSlots, slotPath, type Slot } from './walk.js';

/** The primary version of a tenant's X25519 key ring, as a client may hold it. */
export interface RecipientPublicKey {
  /** 1 … 2^32-1: written into every envelope header sealed to this key. */
  readonly version: number;
  /** The X25519 public key (32 bytes). */
  readonly publicKey: Uint8Array;
}

/** Where a sealing client gets public keys (keystore-client's KeystorePublicKeyProvider, or StaticRecipientKeys). */
export interface RecipientKeyProvider {
  /** The public key of the ring's primary version. */
  recipientKey(ref: KeyRingRef): Promise<RecipientPublicKey>;
}

export interface StaticRecipientKey {
  readonly tenant: string;
  /** Default "default". */
  readonly ring?: string;
  readonly version: number;
  /** 32 bytes, or their base64url text (what a web app receives as JSON). */
  readonly publicKey: Uint8Array | string;
}

/** Public keys given up front (a browser receives them from its backend). */
export class StaticRecipientKeys implements RecipientKeyProvider {
  readonly #keys = new Map<string, RecipientPublicKey>();
  constructor(keys: readonly StaticRecipientKey[]) {
    for (const k of keys) {
      const publicKey = typeof k.publicKey === 'string' ? decodeBase64url(k.publicKey) : Uint8Array.from(k.publicKey);
      assertX25519Key(publicKey, 'recipient public key');
      encodeHpkeHeader(HPKE_BASE_ALG, k.version); // validates the version
      this.#keys.set(refKey({ tenant: k.tenant, ring: k.ring ?? DEFAULT_KEY_RING }), { version: k.version, publicKey });
    }
  }
  async recipientKey(ref: KeyRingRef): Promise<RecipientPublicKey> {
    const key = this.#keys.get(refKey(ref));
    if (!key) throw new UnknownKeyRingError(ref.tenant, ref.ring);
    return key;
  }
}

function refKey(ref: KeyRingRef): string {
  return JSON.stringify([ref.tenant, ref.ring]);
}

export interface HpkeSealerOptions {
  /** compileSchema(schemaRoot()). */
  readonly schema: CompiledSchema;
  readonly recipients: RecipientKeyProvider;
  /** Auth mode: seal every field as alg 4 with this device key pair. Default: base mode (alg 3). */
  readonly sender?: SenderKeyPair;
  /** X25519 implementation; default `noble` (every browser). */
  readonly kem?: HpkeKemImpl;
}

export interface HpkeSealOptions {
  /** Bound into every field's AAD (envelope-v1 §3): `req/<ts>/<nonce>` for a request. Default ''. */
  readonly context?: string;
}

const utf8 = new TextEncoder();

export class HpkeSealer {
  readonly #schema: CompiledSchema;
  readonly #recipients: RecipientKeyProvider;
  readonly #sender: SenderKeyPair | undefined;
  readonly #kem: HpkeKemImpl;

  constructor(opts: HpkeSealerOptions) {
    this.#schema = opts.schema;
    this.#recipients = opts.recipients;
    if (opts.sender) {
      assertX25519Key(opts.sender.publicKey, 'sender public key');
    }
    this.#sender = opts.sender;
    this.#kem = opts.kem ?? 'noble';
  }

  /**
   * A copy of `message` with every non-empty sensitive value sealed to its
   * ring's primary public key: bytes fields hold the binary envelope, string
   * fields its base64url text (envelope-v1 §5). The input is not mutated.
   */
  async sealMessage<T>(typeName: string, message: T, opts: HpkeSealOptions = {}): Promise<T> {
    const plan = this.#schema.plan(typeName);
    if (typeof message !== 'object' || message === null || Array.isArray(message)) {
      throw new TypeError(`message of type ${typeName} must be an object`);
    }
    const src = message as Record<string, unknown>;
    if (!plan.hasSensitive) return { ...src } as T;
    const tenant = tenantOf(plan, src);
    const slots: Slot[] = [];
    const out = collectSlots(plan.root, src, undefined, true, slots);
    if (slots.length === 0) return out as T;
    for (const slot of slots) checkPlainValue(slot);

    const alg = this.#sender ? HPKE_AUTH_ALG : HPKE_BASE_ALG;
    const rings = [...new Set(slots.map((s) => s.field.ring))];
    const keys = new Map<string, { key: RecipientPublicKey; header: Uint8Array }>();
    await Promise.all(
      rings.map(async (ring) => {
        const key = await this.#recipients.recipientKey({ tenant, ring });
        keys.set(ring, { key, header: encodeHpkeHeader(alg, key.version) });
      }),
    );
    const context = opts.context ?? '';
    await Promise.all(
      slots.map(async (slot) => {
        const { key, header } = keys.get(slot.field.ring)!;
        const isBytes = slot.field.valueType === 'bytes';
        const plaintext = isBytes ? (slot.value as Uint8Array) : utf8.encode(slot.value as string);
        try {
          const envelope = await hpkeSealRaw({
            header,
            recipientPublicKey: key.publicKey,
            aad: buildAad(header, { tenant, messageType: plan.typeName, fieldPath: slotPath(slot), context }),
            plaintext,
            ...(this.#sender ? { sender: this.#sender } : {}),
            kem: this.#kem,
          });
          (slot.target as Record<string | number, unknown>)[slot.key] = isBytes ? envelope : encodeBase64url(envelope);
        } finally {
          if (!isBytes) plaintext.fill(0);
        }
      }),
    );
    return out as T;
  }
}

function checkPlainValue(slot: Slot): void {
  const { value, field } = slot;
  if (field.valueType === 'bytes') {
    if (!(value instanceof Uint8Array)) throw new InvalidFieldValueError(slotPath(slot), field.fieldName, 'a Uint8Array');
  } else if (typeof value !== 'string') {
    throw new InvalidFieldValueError(slotPath(slot), field.fieldName, 'a string');
  }
}
