// An in-memory KeyProvider for tests, vectors and the CLI. Production code
// gets keys from keystore-client, which implements the same interface.
import { assertAlg, assertKeyVersion } from './envelope.js';
import { UnknownKeyRingError, UnknownKeyVersionError } from './errors.js';
import { SecretKey, type KeyMaterialAlg, type KeyProvider, type KeyRingRef, type KeyVersionMaterial } from './key-provider.js';

export interface StaticKeyVersion {
  /** 1 … 2^32-1. */
  readonly version: number;
  /** 32 bytes: a symmetric key, or for alg 3 an X25519 private key. */
  readonly key: Uint8Array | SecretKey;
  /** Default 1 (ChaCha20-Poly1305); 3 makes the ring an X25519 ring (HPKE, docs/envelope-hpke.md). */
  readonly alg?: KeyMaterialAlg;
}

export interface StaticKeyRing {
  readonly tenant: string;
  /** Default "default". */
  readonly ring?: string;
  readonly versions: readonly StaticKeyVersion[];
  /** The version to seal with; default the highest. */
  readonly primary?: number;
}

interface RingEntry {
  readonly versions: Map<number, KeyVersionMaterial>;
  readonly primary: KeyVersionMaterial;
}

export class StaticKeyProvider implements KeyProvider {
  /** tenant -> ring -> entry. */
  readonly #rings = new Map<string, Map<string, RingEntry>>();

  constructor(rings: readonly StaticKeyRing[] = []) {
    for (const ring of rings) this.add(ring);
  }

  /** Adds (or replaces) a ring. */
  add(ring: StaticKeyRing): this {
    const versions = new Map<number, KeyVersionMaterial>();
    for (const v of ring.versions) {
      assertKeyVersion(v.version);
      const alg = v.alg ?? 1;
      if (alg !== 3) assertAlg(alg);
      const key = v.key instanceof SecretKey ? v.key : new SecretKey(v.key);
      versions.set(v.version, { version: v.version, alg, key });
    }
    const primaryVersion = ring.primary ?? Math.max(...versions.keys());
    const primary = versions.get(primaryVersion);
    if (!primary) throw new RangeError(`primary version ${primaryVersion} is not among the ring's versions`);
    let byRing = this.#rings.get(ring.tenant);
    if (!byRing) this.#rings.set(ring.tenant, (byRing = new Map()));
    byRing.set(ring.ring ?? 'default', { versions, primary });
    return this;
  }

  cachedPrimaryKey(ref: KeyRingRef): KeyVersionMaterial | undefined {
    return this.#rings.get(ref.tenant)?.get(ref.ring)?.primary;
  }

  cachedKeyVersion(ref: KeyRingRef, version: number): KeyVersionMaterial | undefined {
    return this.#rings.get(ref.tenant)?.get(ref.ring)?.versions.get(version);
  }

  async primaryKey(ref: KeyRingRef): Promise<KeyVersionMaterial> {
    const entry = this.#rings.get(ref.tenant)?.get(ref.ring);
    if (!entry) throw new UnknownKeyRingError(ref.tenant, ref.ring);
    return entry.primary;
  }

  async keyVersion(ref: KeyRingRef, version: number): Promise<KeyVersionMaterial> {
    const material = this.#rings.get(ref.tenant)?.get(ref.ring)?.versions.get(version);
    if (!material) throw new UnknownKeyVersionError(ref.tenant, ref.ring, version);
    return material;
  }

  toString(): string {
    let n = 0;
    for (const byRing of this.#rings.values()) n += byRing.size;
    return `StaticKeyProvider(${n} rings)`;
  }
}
