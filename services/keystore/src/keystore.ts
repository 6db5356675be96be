// The keystore's logic without transport: key rings, their versions and
// states, wrapping at rest. server.ts puts policy, audit and gRPC around it.
import { randomBytes } from 'node:crypto';
import { SecretKey } from '@fle/field-crypto';
import { InvalidTransitionError, NotFoundError, StorageConflictError } from './errors.js';
import {
  algForKind,
  assertRing,
  assertTenant,
  assertVersion,
  ringView,
  versionView,
  type KeyAlgByte,
  type KeyKindName,
  type KeyRingRecord,
  type KeyRingView,
  type KeyVersionView,
} from './model.js';
import * as sm from './state-machine.js';
import type { KeyStorage } from './storage/types.js';
import { KeyWrapper } from './wrap.js';
import { x25519PublicKeyOf } from './x25519.js';

export interface KeyMaterialResult {
  info: KeyVersionView;
  /** The symmetric key, or for an x25519 ring the private key. */
  key: SecretKey;
  /** x25519 rings: the public key of `key`. */
  publicKey?: Uint8Array;
}

export interface PublicKeyResult {
  info: KeyVersionView;
  /** The X25519 public key (32 bytes). */
  publicKey: Uint8Array;
}

export interface KeystoreOptions {
  storage: KeyStorage;
  /** The master key; only a derived wrapping key is kept. */
  masterKey: SecretKey;
  now?: () => number;
  /** Key generator (tests inject one); defaults to node's CSPRNG. */
  rng?: (n: number) => Uint8Array;
}

/** How often a compare-and-set write is retried after losing a race. */
const MAX_CAS_ATTEMPTS = 20;

export class Keystore {
  readonly storage: KeyStorage;
  readonly #wrapper: KeyWrapper;
  readonly #now: () => number;
  readonly #rng: (n: number) => Uint8Array;

  constructor(opts: KeystoreOptions) {
    this.storage = opts.storage;
    this.#wrapper = new KeyWrapper(opts.masterKey);
    this.#now = opts.now ?? Date.now;
    this.#rng = opts.rng ?? ((n) => new Uint8Array(randomBytes(n)));
  }

  async createRing(tenant: string, ring: string, opts: { kind?: KeyKindName; alg?: KeyAlgByte } = {}): Promise<KeyVersionView> {
    assertTenant(tenant);
    assertRing(ring);
    const kind = opts.kind ?? 'symmetric';
    const alg = algForKind(kind, opts.alg);
    const record = sm.newRing({ tenant, ring, kind, alg }, this.#now(), (version) =>
      this.#wrapper.wrapFresh({ tenant, ring, version, kind, alg }, this.#rng),
    );
    const stored = await this.storage.create(record);
    return versionView(stored.record, stored.record.versions[0]!);
  }

  async rotate(tenant: string, ring: string): Promise<KeyVersionView> {
    const { record, result } = await this.#mutate(tenant, ring, (r) => {
      const { ring: next, added } = sm.rotate(r, this.#now(), (version) =>
        this.#wrapper.wrapFresh({ tenant, ring, version, kind: r.kind, alg: r.alg }, this.#rng),
      );
      return { next, result: added.version };
    });
    return versionView(record, sm.find(record, result));
  }

  async promote(tenant: string, ring: string, version: number): Promise<{ version: KeyVersionView; previousPrimary: KeyVersionView }> {
    assertVersion(version);
    const { record, result } = await this.#mutate(tenant, ring, (r) => {
      const { ring: next, previousPrimary } = sm.promote(r, version, this.#now());
      return { next, result: previousPrimary };
    });
    return { version: versionView(record, sm.find(record, version)), previousPrimary: versionView(record, sm.find(record, result)) };
  }

  async disable(tenant: string, ring: string, version: number): Promise<KeyVersionView> {
    return this.#transition(tenant, ring, version, sm.disable);
  }

  async enable(tenant: string, ring: string, version: number): Promise<KeyVersionView> {
    return this.#transition(tenant, ring, version, sm.enable);
  }

  async destroy(tenant: string, ring: string, version: number): Promise<KeyVersionView> {
    return this.#transition(tenant, ring, version, sm.destroy);
  }

  async listVersions(tenant: string, ring: string): Promise<KeyVersionView[]> {
    const record = await this.#read(tenant, ring);
    return record.versions.map((v) => versionView(record, v));
  }

  async listRings(tenant?: string): Promise<KeyRingView[]> {
    if (tenant !== undefined) assertTenant(tenant);
    return (await this.storage.list(tenant)).map(ringView);
  }

  /** The ring's primary, to seal with (never a pending version). */
  async primaryKey(tenant: string, ring: string): Promise<KeyMaterialResult> {
    const record = await this.#read(tenant, ring);
    const primary = record.versions.find((v) => v.state === 'primary');
    if (!primary) throw new NotFoundError(`key ring ${tenant}/${ring} has no primary version`); // unreachable: invariant
    return this.#material(record, primary.version);
  }

  /** A pending, primary or decrypt-only version, to open with. */
  async keyVersion(tenant: string, ring: string, version: number): Promise<KeyMaterialResult> {
    assertVersion(version);
    const record = await this.#read(tenant, ring);
    const v = sm.find(record, version);
    if (v.state === 'disabled' || v.state === 'destroyed') {
      throw new InvalidTransitionError(`key ring ${tenant}/${ring} version ${version} is ${v.state}`);
    }
    return this.#material(record, version);
  }

  /**
   * The public key of an x25519 ring's primary version (never a pending one),
   * for clients that seal with HPKE. FAILED_PRECONDITION for a symmetric ring.
   */
  async publicKey(tenant: string, ring: string): Promise<PublicKeyResult> {
    const record = await this.#read(tenant, ring);
    if (record.kind !== 'x25519') throw new InvalidTransitionError(`key ring ${tenant}/${ring} is symmetric: it has no public key`);
    const primary = record.versions.find((v) => v.state === 'primary');
    if (!primary) throw new NotFoundError(`key ring ${tenant}/${ring} has no primary version`); // unreachable: invariant
    const m = this.#material(record, primary.version);
    m.key.destroy();
    return { info: m.info, publicKey: m.publicKey! };
  }

  #material(record: KeyRingRecord, version: number): KeyMaterialResult {
    const v = sm.find(record, version);
    const raw = this.#wrapper.unwrap(
      { tenant: record.tenant, ring: record.ring, version, kind: record.kind, alg: record.alg },
      v.wrapped!,
    );
    try {
      const info = versionView(record, v);
      if (record.kind === 'x25519') return { info, key: new SecretKey(raw), publicKey: x25519PublicKeyOf(raw) };
      return { info, key: new SecretKey(raw) };
    } finally {
      raw.fill(0);
    }
  }

  async #read(tenant: string, ring: string): Promise<KeyRingRecord> {
    assertTenant(tenant);
    assertRing(ring);
    const stored = await this.storage.get(tenant, ring);
    if (!stored) throw new NotFoundError(`key ring ${tenant}/${ring} does not exist`);
    return stored.record;
  }

  async #transition(
    tenant: string,
    ring: string,
    version: number,
    fn: (r: KeyRingRecord, version: number, now: number) => KeyRingRecord,
  ): Promise<KeyVersionView> {
    assertVersion(version);
    const { record } = await this.#mutate(tenant, ring, (r) => ({ next: fn(r, version, this.#now()), result: version }));
    return versionView(record, sm.find(record, version));
  }

  /** Read, change, compare-and-set; re-read and retry when another writer won. */
  async #mutate<T>(
    tenant: string,
    ring: string,
    change: (r: KeyRingRecord) => { next: KeyRingRecord; result: T },
  ): Promise<{ record: KeyRingRecord; result: T }> {
    assertTenant(tenant);
    assertRing(ring);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const stored = await this.storage.get(tenant, ring);
      if (!stored) throw new NotFoundError(`key ring ${tenant}/${ring} does not exist`);
      const { next, result } = change(stored.record);
      try {
        const written = await this.storage.update(next, stored.revision);
        return { record: written.record, result };
      } catch (err) {
        if (!(err instanceof StorageConflictError)) throw err;
        await new Promise((r) => setTimeout(r, Math.random() * 5 * (attempt + 1)));
      }
    }
    throw new StorageConflictError(`key ring ${tenant}/${ring} is being changed by too many writers`);
  }
}
