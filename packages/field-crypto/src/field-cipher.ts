// FieldCipher: seals / opens every sensitive field of a message (ts-proto
// plain object) following its precomputed plan. Keys come only through the
// KeyProvider: seal asks for the primary once per key ring per message; open
// asks for each (ring, key version) found in the envelopes once per message.
import { aadPrefix, joinAad, lengthPrefixed } from './aad.js';
import type { CipherBackend } from './backend.js';
import { decodeBase64url, encodeBase64url } from './base64url.js';
import { assertAlg, encodeHeader, parseEnvelope, type Envelope } from './envelope.js';
import { DecryptionError, EnvelopeFormatError, InvalidFieldValueError, MissingTenantError, SchemaError } from './errors.js';
import type { KeyProvider, KeyVersionMaterial, SymmetricAlg } from './key-provider.js';
import { nobleBackend } from './noble-backend.js';
import { defaultRandom, type RandomSource } from './random.js';
import type { CompiledSchema, MessagePlan } from './schema.js';
import { openRaw, sealRaw } from './seal-envelope.js';
import { collectSlots, slotPath, type Slot } from './walk.js';

export interface FieldCipherOptions {
  /** compileSchema(schemaRoot()). */
  readonly schema: CompiledSchema;
  readonly keys: KeyProvider;
  /** Default: native (node:crypto) from the package's Node entry, noble from `@fle/field-crypto/portable`. */
  readonly backend?: CipherBackend;
  /** Nonce source; default: the pooled CSPRNG. Inject only for test vectors. */
  readonly random?: RandomSource;
  /** Seal with this alg; default: the alg of the ring's primary key version. */
  readonly alg?: SymmetricAlg;
}

export interface MessageCipherOptions {
  /** Bound into every field's AAD (spec §3); e.g. `req/<ts>/<nonce>` in flight, a record id at rest. Default ''. */
  readonly context?: string;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const EMPTY_CONTEXT = lengthPrefixed('');

/** The tenant of `message` per its plan; throws SchemaError / MissingTenantError. */
export function tenantOf(plan: MessagePlan, message: unknown): string {
  if (plan.tenantProp === undefined) {
    throw new SchemaError(`message ${plan.typeName} names no tenant field (option (fle.v1.tenant_field))`);
  }
  const tenant = (message as Record<string, unknown>)[plan.tenantProp];
  if (typeof tenant !== 'string' || tenant === '') throw new MissingTenantError(plan.typeName, plan.tenantField ?? plan.tenantProp);
  return tenant;
}

function asMessage(typeName: string, message: unknown): Record<string, unknown> {
  if (typeof message !== 'object' || message === null || Array.isArray(message)) {
    throw new TypeError(`message of type ${typeName} must be an object`);
  }
  return message as Record<string, unknown>;
}

/** Per-ring state while sealing one message: the key and the AAD prefix over its header. */
interface SealKey {
  readonly alg: SymmetricAlg;
  readonly header: Uint8Array;
  readonly key: Uint8Array;
  readonly prefix: Uint8Array;
}

export class FieldCipher {
  readonly #schema: CompiledSchema;
  readonly #keys: KeyProvider;
  readonly #backend: CipherBackend;
  readonly #random: RandomSource;
  readonly #alg: SymmetricAlg | undefined;

  constructor(opts: FieldCipherOptions) {
    this.#schema = opts.schema;
    this.#keys = opts.keys;
    this.#backend = opts.backend ?? nobleBackend;
    this.#random = opts.random ?? defaultRandom;
    if (opts.alg !== undefined) assertAlg(opts.alg);
    this.#alg = opts.alg;
  }

  get backend(): CipherBackend {
    return this.#backend;
  }

  /**
   * A copy of `message` with every non-empty sensitive value sealed: bytes
   * fields hold the binary envelope, string fields its base64url text (spec §5).
   * Clear fields and untouched sub-messages are shared with the input, which is not mutated.
   */
  async sealMessage<T>(typeName: string, message: T, opts?: MessageCipherOptions): Promise<T> {
    const plan = this.#schema.plan(typeName);
    const src = asMessage(typeName, message);
    if (!plan.hasSensitive) return { ...src } as T;
    const tenant = tenantOf(plan, src);
    const slots: Slot[] = [];
    const out = collectSlots(plan.root, src, undefined, true, slots);
    if (slots.length === 0) return out as T;

    // One primaryKey call per ring used by this message.
    const rings: string[] = [];
    for (const slot of slots) if (!rings.includes(slot.field.ring)) rings.push(slot.field.ring);
    const materials = await Promise.all(rings.map((ring) => this.#keys.primaryKey({ tenant, ring })));
    const lpTenant = lengthPrefixed(tenant);
    const keys = new Map<string, SealKey>();
    rings.forEach((ring, i) => keys.set(ring, this.#sealKey(materials[i]!, lpTenant, plan.lpTypeName)));
    const lpContext = opts?.context ? lengthPrefixed(opts.context) : EMPTY_CONTEXT;

    for (const slot of slots) {
      const { field } = slot;
      const k = keys.get(field.ring)!;
      const plaintext = plaintextOf(slot);
      const lpPath = slot.dynamicPath === undefined ? field.lpPath : lengthPrefixed(slot.dynamicPath);
      const envelope = sealRaw(this.#backend, k.alg, k.header, k.key, joinAad(k.prefix, lpPath, lpContext), this.#random, plaintext);
      (slot.target as Record<string | number, unknown>)[slot.key] = field.valueType === 'bytes' ? envelope : encodeBase64url(envelope);
    }
    return out as T;
  }

  /**
   * A copy of `message` with every sensitive envelope opened. Every envelope is
   * parsed (EnvelopeFormatError) before any key is asked for; a failed
   * authentication throws DecryptionError naming the field path only.
   */
  async openMessage<T>(typeName: string, message: T, opts?: MessageCipherOptions): Promise<T> {
    const plan = this.#schema.plan(typeName);
    const src = asMessage(typeName, message);
    if (!plan.hasSensitive) return { ...src } as T;
    const tenant = tenantOf(plan, src);
    const slots: Slot[] = [];
    const out = collectSlots(plan.root, src, undefined, true, slots);
    if (slots.length === 0) return out as T;

    const envelopes = slots.map(envelopeOf);
    // One keyVersion call per (ring, version) found in this message.
    const wanted = new Map<string, { ring: string; version: number }>();
    slots.forEach((slot, i) => {
      const version = envelopes[i]!.keyVersion;
      wanted.set(`${version}:${slot.field.ring}`, { ring: slot.field.ring, version });
    });
    const ids = [...wanted.keys()];
    const materials = await Promise.all(ids.map((id) => {
      const { ring, version } = wanted.get(id)!;
      return this.#keys.keyVersion({ tenant, ring }, version);
    }));
    const keyById = new Map<string, Uint8Array>();
    ids.forEach((id, i) => keyById.set(id, materials[i]!.key.exposeBytes()));

    const lpTenant = lengthPrefixed(tenant);
    const lpContext = opts?.context ? lengthPrefixed(opts.context) : EMPTY_CONTEXT;
    // AAD prefixes differ by header (alg, key version): cache per header within this message.
    const prefixes = new Map<number, Uint8Array>();
    slots.forEach((slot, i) => {
      const env = envelopes[i]!;
      const { field } = slot;
      const headerId = env.alg * 0x1_0000_0000 + env.keyVersion;
      let prefix = prefixes.get(headerId);
      if (!prefix) {
        prefix = aadPrefix(env.header, lpTenant, plan.lpTypeName);
        prefixes.set(headerId, prefix);
      }
      const lpPath = slot.dynamicPath === undefined ? field.lpPath : lengthPrefixed(slot.dynamicPath);
      let plaintext: Uint8Array;
      try {
        plaintext = openRaw(this.#backend, env, keyById.get(`${env.keyVersion}:${field.ring}`)!, joinAad(prefix, lpPath, lpContext));
      } catch (err) {
        if (err instanceof DecryptionError) throw new DecryptionError(slotPath(slot));
        throw err;
      }
      (slot.target as Record<string | number, unknown>)[slot.key] = field.valueType === 'bytes' ? plaintext : decodeUtf8(plaintext, slot);
    });
    return out as T;
  }

  #sealKey(material: KeyVersionMaterial, lpTenant: Uint8Array, lpTypeName: Uint8Array): SealKey {
    const alg = this.#alg ?? material.alg;
    const header = encodeHeader(alg, material.version);
    return { alg, header, key: material.key.exposeBytes(), prefix: aadPrefix(header, lpTenant, lpTypeName) };
  }
}

function plaintextOf(slot: Slot): Uint8Array {
  const { value, field } = slot;
  if (field.valueType === 'bytes') {
    if (!(value instanceof Uint8Array)) throw new InvalidFieldValueError(slotPath(slot), field.fieldName, 'a Uint8Array');
    return value;
  }
  if (typeof value !== 'string') throw new InvalidFieldValueError(slotPath(slot), field.fieldName, 'a string');
  return utf8Encoder.encode(value);
}

/** Parses the envelope in a slot (base64url text for string fields, spec §5). */
function envelopeOf(slot: Slot): Envelope {
  const { value, field } = slot;
  const path = slotPath(slot);
  if (field.valueType === 'bytes') {
    if (!(value instanceof Uint8Array)) throw new EnvelopeFormatError('sealed bytes field must hold a Uint8Array', path);
    return parseEnvelope(value, path);
  }
  if (typeof value !== 'string') throw new EnvelopeFormatError('sealed string field must hold a string', path);
  return parseEnvelope(decodeBase64url(value, path), path);
}

function decodeUtf8(plaintext: Uint8Array, slot: Slot): string {
  try {
    return utf8Decoder.decode(plaintext);
  } catch {
    throw new EnvelopeFormatError('sealed string is not valid UTF-8', slotPath(slot));
  }
}
