// FieldCipher: seals / opens every sensitive field of a message (ts-proto
// plain object) following its precomputed plan. Keys come only through the
// KeyProvider: seal asks for the primary once per key ring per message; open
// asks for each (ring, key version) found in the envelopes once per message.
import { aadPrefix, joinAadView, joinAadViewPath, lengthPrefixed } from './aad.js';
import type { CipherBackend } from './backend.js';
import { base64urlDecodedLength, decodeBase64urlHeaderInto, decodeCheckedBase64urlView } from './base64url.js';
import { checkLength, encodeHeader, envelopeAlgFitsKey, HEADER_LENGTH, isHpkeAlg, parseEnvelope, readHeader, type EnvelopeAlg } from './envelope.js';
import { DecryptionError, EnvelopeFormatError, KeyAlgMismatchError, MissingTenantError, SchemaError, UnknownKeyRingError, UnknownKeyVersionError } from './errors.js';
import { isX25519Material, openHpkeValue, sealWithHpke, X25519_MATERIAL_ALG, type HpkeCipherOptions, type SenderListener } from './hpke-field.js';
import type { KeyProvider, KeyRingRef, KeyVersionMaterial, SecretKey, SymmetricAlg } from './key-provider.js';
import { nobleBackend } from './noble-backend.js';
import { defaultRandom, type RandomSource } from './random.js';
import type { CompiledSchema, MessagePlan } from './schema.js';
import { Scratch } from './scratch.js';
import { openRaw } from './seal-envelope.js';
import { utf8Decode, writeLengthPrefixed } from './utf8.js';
import { sealNode, usedRings, type SealContext, type SealHeader } from './seal-walk.js';
import { collectSlots, slotPath, type Slot } from './walk.js';

export interface FieldCipherOptions {
  /** compileSchema(schemaRoot()). */
  readonly schema: CompiledSchema;
  readonly keys: KeyProvider;
  /** Default: native (node:crypto) from the package's Node entry, noble from `@fle/field-crypto/portable`. */
  readonly backend?: CipherBackend;
  /** Nonce source; default: the pooled CSPRNG. Inject only for test vectors. */
  readonly random?: RandomSource;
  /** Envelope alg 3/4 (HPKE, docs/envelope-hpke.md): registered device keys, X25519 implementation. */
  readonly hpke?: HpkeCipherOptions;
}

export interface MessageCipherOptions {
  /** Bound into every field's AAD (spec §3); e.g. `req/<ts>/<nonce>` in flight, a record id at rest. Default ''. */
  readonly context?: string;
  /** openMessage: told which registered device sealed each alg 4 value (docs/envelope-hpke.md §5). */
  readonly onSender?: SenderListener;
  /**
   * openMessage: write the opened values into `message` itself rather than
   * into a copy, for a caller that owns it (just decoded) and drops it on an
   * error (it may then be partly opened). Saves copying the message's objects.
   */
  readonly inPlace?: boolean;
}

// A message's lp(context) lives for one synchronous pass only (scratch.ts).
const contextScratch = new Scratch(256);

/** lp(context) for one synchronous pass (valid until the next message's pass). */
function lpContextOf(context: string | undefined): Uint8Array {
  const c = context ?? '';
  const out = contextScratch.buffer(4 + 3 * c.length);
  return contextScratch.view(out, writeLengthPrefixed(c, out, 0));
}

/** Per-process caches are dropped when they grow past this many tenants per message type. */
const MAX_CACHED_TENANTS = 4096;

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

/**
 * The keys one message's seal or open holds across an await (SecretKey.acquire),
 * so that a key cache retiring one meanwhile destroys it only once the message
 * is done with it. A key is held in the same turn of the event loop the
 * provider hands it over (a retire is never effective within that turn, see
 * keystore-client's cache), and released when the message is done. Synchronous
 * work (a seal or open whose keys all come from the provider's cache and that
 * has no HPKE value) needs none: nothing else runs in between.
 */
class HeldKeys {
  readonly #keys: SecretKey[] = [];
  /** Acquires `m`'s key (KeyDestroyedError when destroyed) and returns `m`. */
  hold(m: KeyVersionMaterial): KeyVersionMaterial {
    if (!this.#keys.includes(m.key)) {
      m.key.acquire();
      this.#keys.push(m.key);
    }
    return m;
  }
  releaseAll(): void {
    for (const key of this.#keys) key.release();
    this.#keys.length = 0;
  }
}

/**
 * Each request's key from the provider, held as it arrives (see HeldKeys).
 * Waits for all (a failing ring never leaves another ring's rejection
 * unhandled, nor a later key held), then throws the first failure.
 */
async function fetchHeld(requests: readonly Promise<KeyVersionMaterial>[], held: HeldKeys): Promise<KeyVersionMaterial[]> {
  const settled = await Promise.allSettled(requests.map((p) => p.then((m) => held.hold(m))));
  const out: KeyVersionMaterial[] = [];
  for (const s of settled) {
    if (s.status === 'rejected') throw s.reason;
    out.push(s.value);
  }
  return out;
}

/** Header of one envelope found while opening, read before any key is asked for. */
export interface FoundHeader {
  readonly alg: EnvelopeAlg;
  readonly keyVersion: number;
  /** Envelope length in bytes (of the decoded text for a string field). */
  readonly length: number;
}

/**
 * The AAD of one slot being opened, in the shared scratch buffer (read it
 * before the next one is built). `prefixes`: the message's (type, tenant)
 * cache of AAD prefixes by header (alg, key version). A function, not a
 * closure per message: this runs for every envelope.
 */
function slotAad(slot: Slot, h: FoundHeader, prefixes: Map<number, Uint8Array>, tenant: string, plan: MessagePlan, lpContext: Uint8Array): Uint8Array {
  const headerId = h.alg * 0x1_0000_0000 + h.keyVersion;
  let prefix = prefixes.get(headerId);
  if (!prefix) {
    const header = slot.field.valueType === 'string' ? decodeBase64urlHeaderInto(slot.value as string, textHeader) : (slot.value as Uint8Array).subarray(0, HEADER_LENGTH);
    prefix = aadPrefix(header, lengthPrefixed(tenant), plan.lpTypeName);
    prefixes.set(headerId, prefix);
  }
  return slot.dynamicPath === undefined ? joinAadView(prefix, slot.field.lpPath, lpContext) : joinAadViewPath(prefix, slot.dynamicPath, lpContext);
}

/** The 6 header bytes of a string field's envelope, decoded for readHeader (read at once). */
const textHeader = new Uint8Array(HEADER_LENGTH);

export class FieldCipher {
  readonly #schema: CompiledSchema;
  readonly #keys: KeyProvider;
  readonly #backend: CipherBackend;
  readonly #random: RandomSource;
  readonly #hpke: HpkeCipherOptions | undefined;
  // Per-process caches (type -> tenant -> …): header bytes and AAD prefixes
  // (magic || header || lp(tenant) || lp(type)) are built once, not per message.
  readonly #sealHeaders = new Map<MessagePlan, Map<string, (SealHeader | undefined)[]>>();
  readonly #openPrefixes = new Map<MessagePlan, Map<string, Map<number, Uint8Array>>>();

  constructor(opts: FieldCipherOptions) {
    this.#schema = opts.schema;
    this.#keys = opts.keys;
    this.#backend = opts.backend ?? nobleBackend;
    this.#random = opts.random ?? defaultRandom;
    // Spec §4: a key version seals with its own alg; there is no override (an
    // option that once existed is refused rather than silently ignored).
    if ((opts as { alg?: unknown }).alg !== undefined) {
      throw new TypeError('FieldCipherOptions.alg is not supported: each key version seals with its own alg (envelope v1 §4)');
    }
    this.#hpke = opts.hpke;
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
    // The steady state: every ring's primary is in the provider's cache. One
    // pass then checks, copies and seals (sealNode throws the type errors
    // usedRings would; no key is asked for either way).
    const ringCount = plan.rings.length;
    let materials = new Array<KeyVersionMaterial | undefined>(ringCount);
    if (this.#cachedPrimaries(plan, tenant, materials)) return sealNode(plan.root, src, undefined, this.#sealContext(plan, tenant, materials, opts)) as T;
    // Otherwise, pass 1: which rings hold something to seal (type errors surface here, before any key is asked for).
    const used = new Array<boolean>(ringCount).fill(false);
    usedRings(plan.root, src, undefined, used);
    // The primary of each ring in use: the cached ones found above (no turn of
    // the event loop) when they cover every ring in use, else one primaryKey
    // call per ring, concurrently (fetchHeld: each key held as it arrives, and
    // a failing ring never leaves another ring's rejection unhandled).
    let missing = false;
    for (let i = 0; i < ringCount; i++) {
      if (!used[i]) materials[i] = undefined; // an unused ring's key plays no part (nor its alg)
      else if (materials[i] === undefined) missing = true;
    }
    const held = new HeldKeys();
    try {
      if (missing) materials = await this.#primaryKeys(plan, tenant, used, held);
      // A ring of X25519 key pairs seals alg 3 (HPKE, asynchronous): hpke-field.ts.
      if (materials.some((m) => m !== undefined && isX25519Material(m))) {
        for (const m of materials) if (m !== undefined) held.hold(m);
        const symmetric = this.#sealHeadersOf(plan, tenant, materials);
        const context = opts?.context ?? '';
        return (await sealWithHpke({ plan, src, tenant, materials, symmetric, backend: this.#backend, random: this.#random, context, kem: this.#hpke?.kem })) as T;
      }
      // Pass 2: copy and seal, synchronously.
      return sealNode(plan.root, src, undefined, this.#sealContext(plan, tenant, materials, opts)) as T;
    } finally {
      held.releaseAll();
    }
  }

  /**
   * Fills `materials` with each ring's primary from the provider's cache
   * (undefined where it has none); true when it had all of them and none is
   * an X25519 ring, so the message seals in one pass.
   */
  #cachedPrimaries(plan: MessagePlan, tenant: string, materials: (KeyVersionMaterial | undefined)[]): boolean {
    const keys = this.#keys;
    if (keys.cachedPrimaryKey === undefined) return false;
    let all = true;
    for (let i = 0; i < materials.length; i++) {
      const m = (materials[i] = keys.cachedPrimaryKey({ tenant, ring: plan.rings[i]! }));
      if (m === undefined || isX25519Material(m)) all = false;
    }
    return all;
  }

  #sealContext(plan: MessagePlan, tenant: string, materials: readonly (KeyVersionMaterial | undefined)[], opts: MessageCipherOptions | undefined): SealContext {
    return {
      backend: this.#backend,
      random: this.#random,
      lpContext: lpContextOf(opts?.context),
      headers: this.#sealHeadersOf(plan, tenant, materials),
      keys: keyBytesOf(materials),
    };
  }

  async #primaryKeys(plan: MessagePlan, tenant: string, used: readonly boolean[], held: HeldKeys): Promise<(KeyVersionMaterial | undefined)[]> {
    const materials = new Array<KeyVersionMaterial | undefined>(used.length);
    const wanted: number[] = [];
    for (let i = 0; i < used.length; i++) if (used[i]) wanted.push(i);
    const got = await fetchHeld(wanted.map((i) => this.#keys.primaryKey({ tenant, ring: plan.rings[i]! })), held);
    for (let j = 0; j < wanted.length; j++) materials[wanted[j]!] = got[j];
    return materials;
  }

  /**
   * A copy of `message` with every sensitive envelope opened. Every envelope's
   * format is checked (EnvelopeFormatError) before any key is asked for; a
   * failed authentication throws DecryptionError naming the field path only.
   */
  async openMessage<T>(typeName: string, message: T, opts?: MessageCipherOptions): Promise<T> {
    const plan = this.#schema.plan(typeName);
    const src = asMessage(typeName, message);
    const copy = opts?.inPlace !== true;
    if (!plan.hasSensitive) return (copy ? { ...src } : src) as T;
    const tenant = tenantOf(plan, src);
    const slots: Slot[] = [];
    const out = collectSlots(plan.root, src, undefined, copy, slots);
    const n = slots.length;
    if (n === 0) return out as T;

    // Pass 1: every envelope's format and header, before any key is asked for.
    // Plain loops and arrays, no closures: this runs for every message.
    const found = new Array<FoundHeader>(n);
    /** Distinct (ring, key version) pairs, and which one each slot needs. */
    const wantRing: string[] = [];
    const wantVersion: number[] = [];
    const want = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const slot = slots[i]!;
      const h = (found[i] = headerOf(slot));
      const ring = slot.field.ring;
      let w = 0;
      while (w < wantRing.length && (wantRing[w] !== ring || wantVersion[w] !== h.keyVersion)) w++;
      if (w === wantRing.length) {
        wantRing.push(ring);
        wantVersion.push(h.keyVersion);
      }
      want[i] = w;
    }
    // The key of each (ring, version) found: from the provider's cache when it
    // has them all now, else one keyVersion call per pair.
    const wanted = wantRing.length;
    let materials = new Array<KeyVersionMaterial>(wanted);
    let missing = this.#keys.cachedKeyVersion === undefined;
    for (let w = 0; w < wanted && !missing; w++) {
      const m = this.#keys.cachedKeyVersion!({ tenant, ring: wantRing[w]! }, wantVersion[w]!);
      if (m === undefined) missing = true;
      else materials[w] = m;
    }
    const held = new HeldKeys();
    try {
      if (missing) materials = await this.#keyVersions(tenant, wantRing, wantVersion, want, slots, held);
      return await this.#openSlots(plan, tenant, out as T, slots, found, want, materials, held, opts);
    } finally {
      held.releaseAll();
    }
  }

  /**
   * Each (ring, version)'s key from the provider, held as it arrives. A key
   * the provider does not have (UNKNOWN_KEY_VERSION / UNKNOWN_KEY_RING: an
   * unknown tenant, ring or version, or a disabled one) is reported as the
   * DecryptionError of the first field that needed it, with the provider's
   * error as its `cause` for server logs: to a caller, an unknown tenant and a
   * known tenant's forged envelope look the same (no tenant probing).
   */
  async #keyVersions(
    tenant: string,
    wantRing: readonly string[],
    wantVersion: readonly number[],
    want: readonly number[],
    slots: readonly Slot[],
    held: HeldKeys,
  ): Promise<KeyVersionMaterial[]> {
    try {
      return await fetchHeld(wantRing.map((ring, w) => this.#keys.keyVersion({ tenant, ring } satisfies KeyRingRef, wantVersion[w]!)), held);
    } catch (err) {
      if (err instanceof UnknownKeyVersionError || err instanceof UnknownKeyRingError) {
        const w = wantRing.findIndex((ring, i) => ring === err.ring && (err instanceof UnknownKeyRingError || wantVersion[i] === err.version));
        const first = want.indexOf(w < 0 ? 0 : w);
        throw new DecryptionError(slotPath(slots[first < 0 ? 0 : first]!), { cause: err });
      }
      throw err;
    }
  }

  /** openMessage once the keys are at hand: checks every alg, opens every slot. */
  async #openSlots<T>(
    plan: MessagePlan,
    tenant: string,
    out: T,
    slots: readonly Slot[],
    found: readonly FoundHeader[],
    want: readonly number[],
    materials: readonly KeyVersionMaterial[],
    held: HeldKeys,
    opts: MessageCipherOptions | undefined,
  ): Promise<T> {
    const n = slots.length;
    // Spec §4: every envelope's alg must be its key version's alg, checked
    // for all of them before anything is decrypted.
    for (let i = 0; i < n; i++) {
      const material = materials[want[i]!]!;
      const alg = found[i]!.alg;
      if (!envelopeAlgFitsKey(alg, material.alg)) throw new KeyAlgMismatchError(slotPath(slots[i]!), alg, material.alg);
    }

    // Pass 2: open, synchronously. Alg 3/4 values open asynchronously (HPKE)
    // afterwards, a few at a time (runHpkeOpens); each is prepared (its text
    // decoded, its AAD built, both copied) only when its batch starts, so a
    // message of junk HPKE envelopes costs the header checks of pass 1 and
    // one batch, not a decode per envelope.
    let hpkeSlots: number[] | undefined;
    const lpContext = lpContextOf(opts?.context);
    // AAD prefixes differ by header (alg, key version): cached per (type, tenant, header).
    const prefixes = this.#openPrefixesOf(plan, tenant);
    for (let i = 0; i < n; i++) {
      const slot = slots[i]!;
      const { field } = slot;
      const h = found[i]!;
      if (isHpkeAlg(h.alg)) {
        (hpkeSlots ??= []).push(i);
        continue;
      }
      const path = slotPath(slot);
      const isText = field.valueType === 'string';
      const aad = slotAad(slot, found[i]!, prefixes, tenant, plan, lpContext);
      const material = materials[want[i]!]!;
      const backend = this.#backend;
      // A string's envelope opened from its text, when the backend can (no arrays in between).
      if (isText && backend.openText !== undefined && !isHpkeAlg(h.alg) && !isX25519Material(material)) {
        const opened = openTextOf(backend, h.alg, material.key.exposeBytes(), slot.value as string, h.length, aad, path);
        if (opened !== undefined) {
          (slot.target as Record<string | number, unknown>)[slot.key] = opened;
          continue;
        }
      }
      const bytes = isText ? decodeCheckedBase64urlView(slot.value as string, h.length, path) : (slot.value as Uint8Array);
      // An alg 1/2 envelope never opens with an X25519 private key (docs/envelope-hpke.md §2).
      if (isX25519Material(material)) throw new DecryptionError(path);
      const env = parseEnvelope(bytes, path);
      let plaintext: Uint8Array;
      try {
        // A string's plaintext bytes only live until decoded (and are wiped by writeOpened): no copy needed.
        plaintext =
          field.valueType === 'string' && backend.openTransient !== undefined
            ? backend.openTransient(env.alg, material.key.exposeBytes(), env.nonce, aad, env.sealed)
            : openRaw(backend, env, material.key.exposeBytes(), aad);
      } catch (err) {
        if (err instanceof DecryptionError) throw new DecryptionError(path);
        throw err;
      }
      writeOpened(slot, plaintext, path);
    }
    if (hpkeSlots !== undefined) {
      // Their keys are used after awaits: held (still the turn they were had in).
      for (const m of materials) if (isX25519Material(m)) held.hold(m);
      await runHpkeOpens(
        hpkeSlots.map((i) => () => {
          const slot = slots[i]!;
          const path = slotPath(slot);
          const h = found[i]!;
          const bytes = slot.field.valueType === 'string' ? decodeCheckedBase64urlView(slot.value as string, h.length, path) : (slot.value as Uint8Array);
          return this.#hpkeJob(slot, path, tenant, materials[want[i]!]!, bytes, slotAad(slot, h, prefixes, tenant, plan, lpContext), opts?.onSender)();
        }),
      );
    }
    return out;
  }

  /** An alg 3/4 value's opening, on copies of its bytes and AAD (the views are reused by the next value). */
  #hpkeJob(
    slot: Slot,
    path: string,
    tenant: string,
    material: KeyVersionMaterial,
    bytes: Uint8Array,
    aad: Uint8Array,
    onSender: SenderListener | undefined,
  ): () => Promise<void> {
    // Copies (new Uint8Array, not .slice(): a Node Buffer's slice is a view of a shared pool).
    const own = { bytes: new Uint8Array(bytes), aad: new Uint8Array(aad) };
    return async () => {
      const plaintext = await openHpkeValue({ ...own, fieldPath: path, tenant, material, options: this.#hpke, onSender });
      writeOpened(slot, plaintext, path);
    };
  }

  /**
   * Header and AAD prefix per ring index for (plan, tenant), cached; rebuilt
   * for a ring whose primary (alg, version) changed. Undefined where no material.
   */
  #sealHeadersOf(plan: MessagePlan, tenant: string, materials: readonly (KeyVersionMaterial | undefined)[]): (SealHeader | undefined)[] {
    let byTenant = this.#sealHeaders.get(plan);
    if (!byTenant) this.#sealHeaders.set(plan, (byTenant = new Map()));
    let cached = byTenant.get(tenant);
    if (!cached) {
      if (byTenant.size >= MAX_CACHED_TENANTS) byTenant.clear();
      byTenant.set(tenant, (cached = new Array<SealHeader | undefined>(plan.rings.length)));
    }
    for (let i = 0; i < materials.length; i++) {
      const material = materials[i];
      // X25519 rings seal alg 3 (hpke-field.ts), never with a symmetric header.
      if (!material || material.alg === X25519_MATERIAL_ALG) continue;
      // Spec §4: the version's own alg, always.
      const alg: SymmetricAlg = material.alg;
      const h = cached[i];
      if (h && h.alg === alg && h.version === material.version) continue;
      const header = encodeHeader(alg, material.version);
      cached[i] = { alg, version: material.version, header, prefix: aadPrefix(header, lengthPrefixed(tenant), plan.lpTypeName) };
    }
    return cached;
  }

  #openPrefixesOf(plan: MessagePlan, tenant: string): Map<number, Uint8Array> {
    let byTenant = this.#openPrefixes.get(plan);
    if (!byTenant) this.#openPrefixes.set(plan, (byTenant = new Map()));
    let prefixes = byTenant.get(tenant);
    if (!prefixes) {
      if (byTenant.size >= MAX_CACHED_TENANTS) byTenant.clear();
      byTenant.set(tenant, (prefixes = new Map()));
    }
    return prefixes;
  }
}

/**
 * HPKE opens (alg 3/4) cost about 1.3-2.4 ms of CPU each (an X25519 and two
 * HKDFs), against microseconds for alg 1/2: a message of junk alg 3 envelopes
 * must not cost one open per envelope. They run HPKE_OPEN_BATCH at a time, in
 * field order, and the first failure ends the message: at most one batch is
 * spent on junk (docs/limits.md).
 */
export const HPKE_OPEN_BATCH = 4;

async function runHpkeOpens(jobs: readonly (() => Promise<void>)[]): Promise<void> {
  for (let start = 0; start < jobs.length; start += HPKE_OPEN_BATCH) {
    // async: a job that throws while it is prepared (a malformed text) becomes a rejection like the others.
    const batch = jobs.slice(start, start + HPKE_OPEN_BATCH).map(async (job) => job());
    // Settled, not Promise.all: no open keeps running (writing into the message) after the message failed.
    const settled = await Promise.allSettled(batch);
    for (const s of settled) if (s.status === 'rejected') throw s.reason;
  }
}

function keyBytesOf(materials: readonly (KeyVersionMaterial | undefined)[]): (Uint8Array | undefined)[] {
  const keys = new Array<Uint8Array | undefined>(materials.length);
  for (let i = 0; i < materials.length; i++) keys[i] = materials[i]?.key.exposeBytes();
  return keys;
}

/**
 * Checks an envelope's format (spec §1, §5) and reads its header without
 * decoding the whole value: base64url text is validated, only its first
 * 8 characters (the 6 header bytes) are decoded.
 */
export function headerOf(slot: Slot): FoundHeader {
  const { value, field } = slot;
  const path = slotPath(slot);
  if (field.valueType === 'bytes') {
    if (!(value instanceof Uint8Array)) throw new EnvelopeFormatError('sealed bytes field must hold a Uint8Array', path);
    const h = readHeader(value, path);
    checkLength(h.alg, value.length, path);
    return { alg: h.alg, keyVersion: h.keyVersion, length: value.length };
  }
  if (typeof value !== 'string') throw new EnvelopeFormatError('sealed string field must hold a string', path);
  const length = base64urlDecodedLength(value, path);
  if (length < HEADER_LENGTH) throw new EnvelopeFormatError(`envelope too short: ${length} bytes`, path);
  const h = readHeader(decodeBase64urlHeaderInto(value, textHeader), path);
  checkLength(h.alg, length, path);
  return { alg: h.alg, keyVersion: h.keyVersion, length };
}

/** backend.openText with the field's path in its errors; undefined when the backend declines. */
function openTextOf(backend: CipherBackend, alg: SymmetricAlg, key: Uint8Array, text: string, length: number, aad: Uint8Array, path: string): string | undefined {
  try {
    return backend.openText!(alg, key, text, length, aad);
  } catch (err) {
    if (err instanceof DecryptionError) throw new DecryptionError(path);
    if (err instanceof TypeError) throw new EnvelopeFormatError('sealed string is not valid UTF-8', path);
    throw err;
  }
}

/** Writes an opened value into its slot: bytes as they are, strings decoded (plaintext wiped). */
function writeOpened(slot: Slot, plaintext: Uint8Array, path: string): void {
  const target = slot.target as Record<string | number, unknown>;
  if (slot.field.valueType === 'bytes') {
    target[slot.key] = plaintext;
    return;
  }
  try {
    target[slot.key] = decodeUtf8(plaintext, path);
  } finally {
    plaintext.fill(0);
  }
}

function decodeUtf8(plaintext: Uint8Array, path: string): string {
  try {
    return utf8Decode(plaintext);
  } catch {
    throw new EnvelopeFormatError('sealed string is not valid UTF-8', path);
  }
}
