// The keystore's logic without transport: key rings, their versions and
// states, wrapping at rest, and the authentication of every record read from
// storage (record-auth.ts). server.ts puts policy, audit and gRPC around it.
import { randomBytes } from 'node:crypto';
import { SecretKey } from '@fle/field-crypto';
import {
  AlreadyExistsError,
  InvalidArgumentError,
  InvalidTransitionError,
  NotFoundError,
  RecordIntegrityError,
  RecordRollbackError,
  StorageConflictError,
  UnsealedRecordsError,
} from './errors.js';
import {
  algForKind,
  assertRing,
  assertRotationPolicy,
  assertTenant,
  assertVersion,
  ringView,
  versionView,
  type KeyAlgByte,
  type KeyKindName,
  type KeyRingRecord,
  type KeyRingView,
  type KeyVersionView,
  type RotationPolicy,
} from './model.js';
import { DEVICES_RECORD } from './device-model.js';
import { DeviceStore } from './device-store.js';
import { GenerationAnchor, RecordAuthenticator } from './record-auth.js';
import * as sm from './state-machine.js';
import type { KeyStorage, StoredRing } from './storage/types.js';
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

/**
 * A record refused by its tag or its generation (an audit line and a log line
 * each). `ring` is DEVICES_RECORD for a tenant's device record.
 */
export type RefusedRecord = { tenant: string; ring: string; error: RecordIntegrityError | RecordRollbackError };

export interface KeystoreOptions {
  storage: KeyStorage;
  /** The master key; only keys derived from it are kept (wrapping, record tags). */
  masterKey: SecretKey;
  /** Highest generation seen per ring; the service feeds it from the audit log first. Default empty. */
  anchor?: GenerationAnchor;
  /** Told of every record refused (the service audits and logs it). */
  onRecordRefused?: (refused: RefusedRecord) => void;
  now?: () => number;
  /** Key generator (tests inject one); defaults to node's CSPRNG. */
  rng?: (n: number) => Uint8Array;
}

/** Where a ring stands against its rotation policy. */
export interface RotationStatus {
  policy: RotationPolicy | null;
  primary: KeyVersionView;
  pending?: KeyVersionView;
  /** When the primary is due by age (with a policy). */
  rotateAt?: number;
  /** When the pending version is due for promotion (with a policy and a pending version). */
  promoteAt?: number;
}

/** What one `applyRotationPolicy` did. */
export type RotationStep =
  | { action: 'none' }
  | { action: 'rotated'; version: number; reason: 'age' | 'volume'; primary: number; sealCount: number; generation?: number }
  | { action: 'promoted'; version: number; previousPrimary: number; generation?: number };

/** Versions per ReportSealCounts request. */
const MAX_SEAL_COUNT_ENTRIES = 16;

/** What `checkRecords` found at start. */
export interface RecordCheck {
  rings: number;
  refused: Array<{ tenant: string; ring: string; reason: string }>;
  /** Rings without a tag (stores written before tags). */
  unsealed: number;
}

/** How often a compare-and-set write is retried after losing a race. */
const MAX_CAS_ATTEMPTS = 20;

export class Keystore {
  readonly storage: KeyStorage;
  readonly anchor: GenerationAnchor;
  /** The tenants' enrolled devices (device-store.ts), in the same storage under the same anchor. */
  readonly devices: DeviceStore;
  readonly #wrapper: KeyWrapper;
  readonly #auth: RecordAuthenticator;
  readonly #onRefused: ((refused: RefusedRecord) => void) | undefined;
  readonly #now: () => number;
  readonly #rng: (n: number) => Uint8Array;

  constructor(opts: KeystoreOptions) {
    this.storage = opts.storage;
    this.anchor = opts.anchor ?? new GenerationAnchor();
    this.#wrapper = new KeyWrapper(opts.masterKey);
    this.#auth = new RecordAuthenticator(opts.masterKey);
    this.#onRefused = opts.onRecordRefused;
    this.#now = opts.now ?? Date.now;
    this.#rng = opts.rng ?? ((n) => new Uint8Array(randomBytes(n)));
    this.devices = new DeviceStore({
      storage: this.storage,
      masterKey: opts.masterKey,
      anchor: this.anchor,
      ...(opts.onRecordRefused ? { onRecordRefused: opts.onRecordRefused } : {}),
      now: this.#now,
      rng: this.#rng,
    });
  }

  async createRing(tenant: string, ring: string, opts: { kind?: KeyKindName; alg?: KeyAlgByte } = {}): Promise<KeyVersionView> {
    assertTenant(tenant);
    assertRing(ring);
    const kind = opts.kind ?? 'symmetric';
    const alg = algForKind(kind, opts.alg);
    const fresh = sm.newRing({ tenant, ring, kind, alg }, this.#now(), (version) =>
      this.#wrapper.wrapFresh({ tenant, ring, version, kind, alg }, this.#rng),
    );
    // Ahead of any generation the anchor holds for this name (a ring removed from storage outside the keystore).
    const record = { ...fresh, generation: (this.anchor.get(tenant, ring) ?? 0) + 1 };
    const stored = await this.storage.create({ record, seal: this.#auth.seal(record, 0) });
    this.anchor.note(tenant, ring, record.generation);
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

  /** Sets the ring's rotation policy, or with `null` removes it. */
  async setRotationPolicy(tenant: string, ring: string, policy: RotationPolicy | null): Promise<KeyRingView> {
    const { record } = await this.#mutate(tenant, ring, (r) => {
      if (policy === null) {
        if (r.rotation === undefined) return { next: null, result: undefined };
        const { rotation: _gone, ...rest } = r;
        return { next: rest, result: undefined };
      }
      assertRotationPolicy(policy, r.alg);
      // Field by field: a record holds nothing its tag does not cover (model.ts refuses unknown fields).
      const rotation = { rotateAfterMs: policy.rotateAfterMs, maxEnvelopes: policy.maxEnvelopes, propagationDelayMs: policy.propagationDelayMs };
      return { next: { ...r, rotation }, result: undefined };
    });
    return ringView(record);
  }

  /** The ring's rotation policy and where the ring stands against it. */
  async rotationStatus(tenant: string, ring: string): Promise<RotationStatus> {
    const record = await this.#read(tenant, ring);
    const primary = record.versions.find((v) => v.state === 'primary')!;
    const pending = record.versions.find((v) => v.state === 'pending');
    const p = record.rotation;
    return {
      policy: p ?? null,
      primary: versionView(record, primary),
      ...(pending ? { pending: versionView(record, pending) } : {}),
      ...(p ? { rotateAt: primary.stateChangedAt + p.rotateAfterMs } : {}),
      ...(p && pending ? { promoteAt: pending.createdAt + p.propagationDelayMs } : {}),
    };
  }

  /**
   * Adds reported seal counts to the versions' totals (the envelope budget of
   * a rotation policy is checked against them). A version the ring does not
   * have is NOT_FOUND; all-zero reports write nothing.
   */
  async addSealCounts(tenant: string, ring: string, counts: Array<{ version: number; seals: number }>): Promise<KeyRingView> {
    if (counts.length > MAX_SEAL_COUNT_ENTRIES) throw new InvalidArgumentError(`at most ${MAX_SEAL_COUNT_ENTRIES} versions per seal count report`);
    for (const c of counts) {
      assertVersion(c.version);
      if (!Number.isSafeInteger(c.seals) || c.seals < 0) throw new InvalidArgumentError('seals must be a non-negative integer');
    }
    const { record } = await this.#mutate(tenant, ring, (r) => {
      for (const c of counts) sm.find(r, c.version);
      if (counts.every((c) => c.seals === 0)) return { next: null, result: undefined };
      const versions = r.versions.map((v) => {
        const add = counts.filter((c) => c.version === v.version).reduce((sum, c) => sum + c.seals, 0);
        return add === 0 ? v : { ...v, sealCount: Math.min(Number.MAX_SAFE_INTEGER, (v.sealCount ?? 0) + add) };
      });
      return { next: { ...r, versions }, result: undefined };
    });
    return ringView(record);
  }

  /**
   * One step of the ring's rotation policy, decided on the record as it is
   * (several keystore instances may run it at once: the compare-and-set lets
   * one act, the others then find nothing to do). A pending version older than
   * the propagation delay is promoted; else a primary that is due (by age, or
   * for alg 1 by its reported seals) gets a pending successor.
   */
  async applyRotationPolicy(tenant: string, ring: string): Promise<RotationStep> {
    const { record, result } = await this.#mutate(tenant, ring, (r): { next: KeyRingRecord | null; result: RotationStep } => {
      const p = r.rotation;
      if (!p) return { next: null, result: { action: 'none' } };
      const now = this.#now();
      const pending = r.versions.find((v) => v.state === 'pending');
      if (pending) {
        if (now - pending.createdAt < p.propagationDelayMs) return { next: null, result: { action: 'none' } };
        const { ring: next, previousPrimary } = sm.promote(r, pending.version, now);
        return { next, result: { action: 'promoted', version: pending.version, previousPrimary } };
      }
      const primary = r.versions.find((v) => v.state === 'primary')!;
      const reason =
        now - primary.stateChangedAt >= p.rotateAfterMs
          ? 'age'
          : r.alg === 1 && p.maxEnvelopes !== null && (primary.sealCount ?? 0) >= p.maxEnvelopes
            ? 'volume'
            : undefined;
      if (reason === undefined) return { next: null, result: { action: 'none' } };
      const { ring: next, added } = sm.rotate(r, now, (version) =>
        this.#wrapper.wrapFresh({ tenant, ring, version, kind: r.kind, alg: r.alg }, this.#rng),
      );
      return { next, result: { action: 'rotated', version: added.version, reason, primary: primary.version, sealCount: primary.sealCount ?? 0 } };
    });
    return result.action === 'none' ? result : { ...result, generation: record.generation };
  }

  async listVersions(tenant: string, ring: string): Promise<KeyVersionView[]> {
    const record = await this.#read(tenant, ring);
    return record.versions.map((v) => versionView(record, v));
  }

  /** Rings whose records authenticate; a refused one is left out (and reported through onRecordRefused). */
  async listRings(tenant?: string): Promise<KeyRingView[]> {
    if (tenant !== undefined) assertTenant(tenant);
    const out: KeyRingView[] = [];
    for (const stored of await this.storage.list(tenant)) {
      const floor = this.anchor.get(stored.record.tenant, stored.record.ring);
      try {
        out.push(ringView(this.#accept(stored, floor)));
      } catch (err) {
        if (!(err instanceof RecordIntegrityError || err instanceof RecordRollbackError)) throw err;
      }
    }
    return out;
  }

  /**
   * Checks every record at start: tags and generations (each refusal is
   * reported), and rings the anchor knows that storage no longer holds.
   * A store in which no record carries a tag was written before records were
   * authenticated: UnsealedRecordsError (run `fle keystore seal-records` once).
   */
  async checkRecords(opts: { configPath?: string } = {}): Promise<RecordCheck> {
    const all = await this.storage.list();
    const unsealed = all.filter((s) => s.seal === undefined).length;
    if (all.length > 0 && unsealed === all.length) {
      throw new UnsealedRecordsError(
        `the store holds ${all.length} key ring record(s) written before records were authenticated: ` +
          `stop the keystore and run \`fle keystore seal-records --config ${opts.configPath ?? '<keystore config>'}\` once`,
      );
    }
    const refused: RecordCheck['refused'] = [];
    const present = new Set<string>();
    for (const stored of all) {
      const { tenant, ring } = stored.record;
      present.add(GenerationAnchor.key(tenant, ring));
      try {
        this.#accept(stored, this.anchor.get(tenant, ring));
      } catch (err) {
        if (!(err instanceof RecordIntegrityError || err instanceof RecordRollbackError)) throw err;
        refused.push({ tenant, ring, reason: err.message });
      }
    }
    for (const [key, generation] of this.anchor.entries()) {
      if (present.has(key)) continue;
      const [tenant, ring] = key.split('/') as [string, string];
      if (ring === DEVICES_RECORD) continue; // device records: checked below
      const error = new RecordRollbackError(`key ring ${tenant}/${ring} is missing from storage, but generation ${generation} of it was seen (removed outside the keystore)`);
      this.#onRefused?.({ tenant, ring, error });
      refused.push({ tenant, ring, reason: error.message });
    }
    refused.push(...(await this.devices.check()));
    return { rings: all.length, refused, unsealed };
  }

  /**
   * The one-time migration of a store written before records were
   * authenticated (`fle keystore seal-records`): tags every record as it is
   * now, generation 1 (nothing to do when every record carries a tag).
   * Refused when only some records carry a tag, or the
   * anchor (the audit log) shows authenticated records were seen: then an
   * untagged record was stripped of its tag, and sealing it would bless an edit.
   */
  async sealUnsealedRecords(): Promise<KeyRingView[]> {
    const all = await this.storage.list();
    const tagged = all.filter((s) => s.seal !== undefined);
    if (tagged.length === all.length) return []; // nothing untagged: sealed already, or empty
    if (tagged.length > 0) {
      throw new UnsealedRecordsError(
        `not sealing: ${tagged.length} of the store's ${all.length} record(s) are authenticated already, so the untagged ones were stripped of their tags (tampering); restore them from a backup`,
      );
    }
    if (this.anchor.size > 0) {
      throw new UnsealedRecordsError(
        'not sealing: the audit log shows authenticated records of this keystore before, so the untagged store was stripped of its tags (tampering); restore it from a backup',
      );
    }
    const out: KeyRingView[] = [];
    for (const stored of all) {
      const record: KeyRingRecord = { ...stored.record, generation: 1 };
      const written = await this.storage.update({ record, seal: this.#auth.seal(record, stored.revision) }, stored.revision);
      this.anchor.note(record.tenant, record.ring, record.generation);
      out.push(ringView(written.record));
    }
    return out;
  }

  /**
   * Every record, authenticated (backups): refuses (throws) when any ring is
   * refused, since a backup must not carry a tampered record into a restore.
   */
  async exportRecords(): Promise<KeyRingRecord[]> {
    const out: KeyRingRecord[] = [];
    for (const stored of await this.storage.list()) {
      out.push(this.#accept(stored, this.anchor.get(stored.record.tenant, stored.record.ring)));
    }
    return out;
  }

  /**
   * Writes a ring from a backup (`fle keystore restore`): refuses to replace
   * an existing ring unless `force`. Its generation is put past anything an
   * instance can have anchored: past the backup's, the store's and the
   * anchor's, and at least the restore time in milliseconds (generations count
   * writes, one at a time: no ring reaches that many), so every keystore
   * instance, whatever its audit log saw, accepts the restored record.
   */
  async restoreRecord(record: KeyRingRecord, opts: { force?: boolean } = {}): Promise<KeyRingView> {
    const { tenant, ring } = record;
    const stored = await this.storage.get(tenant, ring);
    if (stored && !opts.force) throw new AlreadyExistsError(`key ring ${tenant}/${ring} exists in the store; pass --force to overwrite it from the backup`);
    const generation = Math.max(record.generation ?? 0, stored?.record.generation ?? 0, this.anchor.get(tenant, ring) ?? 0, this.#now()) + 1;
    const next: KeyRingRecord = { ...record, generation };
    const written = stored
      ? await this.storage.update({ record: next, seal: this.#auth.seal(next, stored.revision) }, stored.revision)
      : await this.storage.create({ record: next, seal: this.#auth.seal(next, 0) });
    this.anchor.note(tenant, ring, generation);
    return ringView(written.record);
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
    const { stored, floor } = await this.#get(tenant, ring);
    return this.#accept(stored, floor);
  }

  /**
   * Reads a ring, with the anchor as it was before the read: a read that
   * starts after a write finished returns that write or a later one, so a
   * generation below this floor is an older copy, never a race.
   */
  async #get(tenant: string, ring: string): Promise<{ stored: StoredRing; floor: number | undefined }> {
    const floor = this.anchor.get(tenant, ring);
    const stored = await this.storage.get(tenant, ring);
    if (!stored) {
      if (floor === undefined) throw new NotFoundError(`key ring ${tenant}/${ring} does not exist`);
      const error = new RecordRollbackError(`key ring ${tenant}/${ring} is missing from storage, but generation ${floor} of it was seen (removed outside the keystore)`);
      this.#onRefused?.({ tenant, ring, error });
      throw error;
    }
    return { stored, floor };
  }

  /** A record from storage, once its tag and generation check out; refusals are reported and thrown. */
  #accept(stored: StoredRing, floor: number | undefined): KeyRingRecord {
    const { record } = stored;
    try {
      this.#auth.verify(record, stored.seal, stored.revision);
      GenerationAnchor.check(record, floor);
    } catch (err) {
      if (err instanceof RecordIntegrityError || err instanceof RecordRollbackError) this.#onRefused?.({ tenant: record.tenant, ring: record.ring, error: err });
      throw err;
    }
    this.anchor.note(record.tenant, record.ring, record.generation);
    return record;
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

  /**
   * Read (authenticated), change, compare-and-set with the next generation and
   * a fresh tag; re-read and retry when another writer won. `next: null`
   * leaves the ring as it is (nothing written).
   */
  async #mutate<T>(
    tenant: string,
    ring: string,
    change: (r: KeyRingRecord) => { next: KeyRingRecord | null; result: T },
  ): Promise<{ record: KeyRingRecord; result: T; written: boolean }> {
    assertTenant(tenant);
    assertRing(ring);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const { stored, floor } = await this.#get(tenant, ring);
      const current = this.#accept(stored, floor);
      const { next, result } = change(current);
      if (next === null) return { record: current, result, written: false };
      const record: KeyRingRecord = { ...next, generation: current.generation + 1 };
      try {
        const written = await this.storage.update({ record, seal: this.#auth.seal(record, stored.revision) }, stored.revision);
        this.anchor.note(tenant, ring, record.generation);
        return { record: written.record, result, written: true };
      } catch (err) {
        if (!(err instanceof StorageConflictError)) throw err;
        await new Promise((r) => setTimeout(r, Math.random() * 5 * (attempt + 1)));
      }
    }
    throw new StorageConflictError(`key ring ${tenant}/${ring} is being changed by too many writers`);
  }
}
