// The tenants' device records (device-model.ts) in the keystore's storage,
// kept the way key ring records are (record-auth.ts): every record is tagged
// with HMAC-SHA256 under the master key's record key over a canonical
// encoding of all of it (domain "fle.keystore.v1.devices", so a device tag can
// never pass for a ring tag) and the storage revision its write replaced;
// every write raises its generation, which the audit log anchors, so an edited
// record or an older copy put back is refused (DATA_LOSS) and never used.
// Writes are compare-and-set, retried when another writer (request or
// keystore instance) won: a token is redeemed once, however many try at once.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { SecretKey } from '@fle/field-crypto';
import { AlreadyExistsError, RecordIntegrityError, RecordRollbackError, StorageConflictError } from './errors.js';
import {
  DEVICES_RECORD,
  deviceView,
  enroll,
  issueEnrollment,
  newRegistry,
  revoke,
  type DeviceRegistryRecord,
  type DeviceView,
} from './device-model.js';
import type { RefusedRecord } from './keystore.js';
import { deriveFromMaster } from './master-key.js';
import { assertTenant } from './model.js';
import type { GenerationAnchor, RecordSeal } from './record-auth.js';
import type { KeyStorage, StoredDevices } from './storage/types.js';

const DOMAIN = 'fle.keystore.v1.devices';
const MAX_CAS_ATTEMPTS = 20;

/** The bytes a device record's tag covers: a JSON array in a fixed order (model fields are checked to be exactly these). */
export function canonicalDevices(r: DeviceRegistryRecord, prevRevision: number): string {
  return JSON.stringify([
    DOMAIN,
    r.tenant,
    r.createdAt,
    r.generation,
    r.devices.map((d) => [d.id, d.publicKey, d.label, d.state, d.enrolledAt, d.revokedAt, d.enrollment]),
    r.enrollments.map((e) => [e.id, e.hash, e.createdAt, e.expiresAt, e.usedAt, e.device]),
    prevRevision,
  ]);
}

export interface IssuedEnrollment {
  tenant: string;
  /** The one-time token: shown to the admin once, stored only as a hash. */
  token: string;
  enrollmentId: string;
  expiresAt: number;
  generation: number;
}

export interface TenantDevices {
  tenant: string;
  devices: DeviceView[];
  /** True once the tenant has enrolled any device, revoked ones included. */
  senderRequired: boolean;
  /** Of the record read; undefined when the tenant has none. */
  generation: number | undefined;
}

export interface DeviceStoreOptions {
  storage: KeyStorage;
  masterKey: SecretKey;
  anchor: GenerationAnchor;
  onRecordRefused?: (refused: RefusedRecord) => void;
  now: () => number;
  rng: (n: number) => Uint8Array;
}

export class DeviceStore {
  readonly #storage: KeyStorage;
  readonly #anchor: GenerationAnchor;
  readonly #key: SecretKey;
  readonly #onRefused: ((refused: RefusedRecord) => void) | undefined;
  readonly #now: () => number;
  readonly #rng: (n: number) => Uint8Array;

  constructor(opts: DeviceStoreOptions) {
    this.#storage = opts.storage;
    this.#anchor = opts.anchor;
    // The record key of record-auth.ts; the domain string keeps the two kinds of tags apart.
    this.#key = new SecretKey(deriveFromMaster(opts.masterKey, 'record'));
    this.#onRefused = opts.onRecordRefused;
    this.#now = opts.now;
    this.#rng = opts.rng;
  }

  /** A one-time enrollment token for `tenant`, valid for `ttlMs`. */
  async issueEnrollment(tenant: string, ttlMs: number): Promise<IssuedEnrollment> {
    const { record, result } = await this.#mutate(tenant, (r) => {
      const out = issueEnrollment(r, ttlMs, this.#now(), this.#rng);
      return { next: out.registry, result: out };
    });
    return { tenant, token: result.token, enrollmentId: result.enrollment.id, expiresAt: result.enrollment.expiresAt, generation: record.generation };
  }

  /** Redeems a token for a device public key (single use: the compare-and-set lets one redeem win). */
  async enroll(tenant: string, req: { token: string; publicKey: Uint8Array; label: string }): Promise<DeviceView> {
    const { record, result } = await this.#mutate(tenant, (r) => {
      const out = enroll(r, req, this.#now(), this.#rng);
      return { next: out.registry, result: out.device };
    });
    return deviceView(record, result);
  }

  async revoke(tenant: string, deviceId: string): Promise<DeviceView> {
    const { record, result } = await this.#mutate(tenant, (r) => {
      const out = revoke(r, deviceId, this.#now());
      return { next: out.registry, result: out.device };
    });
    return deviceView(record, result);
  }

  /** Every device of the tenant (`activeOnly`: revoked ones left out); none when it has no record. */
  async list(tenant: string, opts: { activeOnly?: boolean } = {}): Promise<TenantDevices> {
    assertTenant(tenant);
    const record = await this.#read(tenant);
    if (!record) return { tenant, devices: [], senderRequired: false, generation: undefined };
    const devices = record.devices.filter((d) => !opts.activeOnly || d.state === 'active').map((d) => deviceView(record, d));
    return { tenant, devices, senderRequired: record.devices.length > 0, generation: record.generation };
  }

  /**
   * Checks every device record (start): tags and generations, and tenants the
   * anchor knows a device record of that storage no longer holds.
   */
  async check(): Promise<Array<{ tenant: string; ring: string; reason: string }>> {
    const refused: Array<{ tenant: string; ring: string; reason: string }> = [];
    const present = new Set<string>();
    for (const stored of await this.#storage.listDevices()) {
      present.add(stored.record.tenant);
      try {
        this.#accept(stored, this.#anchor.get(stored.record.tenant, DEVICES_RECORD));
      } catch (err) {
        if (!(err instanceof RecordIntegrityError || err instanceof RecordRollbackError)) throw err;
        refused.push({ tenant: stored.record.tenant, ring: DEVICES_RECORD, reason: err.message });
      }
    }
    for (const [key, generation] of this.#anchor.entries()) {
      const [tenant, ring] = key.split('/') as [string, string];
      if (ring !== DEVICES_RECORD || present.has(tenant)) continue;
      const error = new RecordRollbackError(`the device record of tenant ${tenant} is missing from storage, but generation ${generation} of it was seen (removed outside the keystore)`);
      this.#onRefused?.({ tenant, ring, error });
      refused.push({ tenant, ring, reason: error.message });
    }
    return refused;
  }

  /** Every tenant's record, authenticated (backups): throws when any is refused. */
  async exportRecords(): Promise<DeviceRegistryRecord[]> {
    const out: DeviceRegistryRecord[] = [];
    for (const stored of await this.#storage.listDevices()) out.push(this.#accept(stored, this.#anchor.get(stored.record.tenant, DEVICES_RECORD)));
    return out;
  }

  /**
   * Writes a tenant's record from a backup (`fle keystore restore`), as
   * Keystore.restoreRecord does a ring's: refused over an existing record
   * unless `force`; its generation put past the backup's, the store's, the
   * anchor's and the restore time in milliseconds, so every instance accepts it.
   */
  async restoreRecord(record: DeviceRegistryRecord, opts: { force?: boolean } = {}): Promise<{ tenant: string; generation: number; devices: number }> {
    const { tenant } = record;
    const stored = await this.#storage.getDevices(tenant);
    if (stored && !opts.force) throw new AlreadyExistsError(`the devices of tenant ${tenant} exist in the store; pass --force to overwrite them from the backup`);
    const generation = Math.max(record.generation, stored?.record.generation ?? 0, this.#anchor.get(tenant, DEVICES_RECORD) ?? 0, this.#now()) + 1;
    const next: DeviceRegistryRecord = { ...record, generation };
    const written = stored
      ? await this.#storage.updateDevices({ record: next, seal: this.seal(next, stored.revision) }, stored.revision)
      : await this.#storage.createDevices({ record: next, seal: this.seal(next, 0) });
    this.#anchor.note(tenant, DEVICES_RECORD, generation);
    return { tenant, generation, devices: written.record.devices.length };
  }

  seal(record: DeviceRegistryRecord, prevRevision: number): RecordSeal {
    return { mac: this.#tag(record, prevRevision).toString('base64'), prevRevision };
  }

  #tag(record: DeviceRegistryRecord, prevRevision: number): Buffer {
    return createHmac('sha256', this.#key.exposeBytes()).update(canonicalDevices(record, prevRevision), 'utf8').digest();
  }

  #verify(stored: StoredDevices): void {
    const { record, seal, revision } = stored;
    const label = `the device record of tenant ${record.tenant}`;
    if (!seal || typeof seal.mac !== 'string' || !Number.isSafeInteger(seal.prevRevision)) {
      throw new RecordIntegrityError(`${label} failed its integrity check: it carries no authentication tag`);
    }
    const got = Buffer.from(seal.mac, 'base64');
    const want = this.#tag(record, seal.prevRevision);
    if (got.length !== want.length || !timingSafeEqual(got, want)) {
      throw new RecordIntegrityError(`${label} failed its integrity check: the stored record was changed outside the keystore`);
    }
    if (!(seal.prevRevision < revision)) {
      throw new RecordIntegrityError(`${label} failed its integrity check: it was written over revision ${seal.prevRevision} but is stored at revision ${revision} (moved or restored outside the keystore)`);
    }
  }

  /** A stored record once its tag and generation check out; refusals are reported and thrown. */
  #accept(stored: StoredDevices, floor: number | undefined): DeviceRegistryRecord {
    const { record } = stored;
    try {
      this.#verify(stored);
      if (floor !== undefined && record.generation < floor) {
        throw new RecordRollbackError(
          `the device record of tenant ${record.tenant} is refused: it is generation ${record.generation}, behind generation ${floor} seen before (an older copy was put back)`,
        );
      }
    } catch (err) {
      if (err instanceof RecordIntegrityError || err instanceof RecordRollbackError) this.#onRefused?.({ tenant: record.tenant, ring: DEVICES_RECORD, error: err });
      throw err;
    }
    this.#anchor.note(record.tenant, DEVICES_RECORD, record.generation);
    return record;
  }

  /** The tenant's record, authenticated; undefined when it never had one. */
  async #read(tenant: string): Promise<DeviceRegistryRecord | undefined> {
    const { stored, floor } = await this.#get(tenant);
    return stored && this.#accept(stored, floor);
  }

  async #get(tenant: string): Promise<{ stored: StoredDevices | undefined; floor: number | undefined }> {
    const floor = this.#anchor.get(tenant, DEVICES_RECORD);
    const stored = await this.#storage.getDevices(tenant);
    if (!stored && floor !== undefined) {
      const error = new RecordRollbackError(`the device record of tenant ${tenant} is missing from storage, but generation ${floor} of it was seen (removed outside the keystore)`);
      this.#onRefused?.({ tenant, ring: DEVICES_RECORD, error });
      throw error;
    }
    return { stored, floor };
  }

  /**
   * Read (authenticated; a fresh record when the tenant has none), change,
   * compare-and-set with the next generation and a fresh tag; re-read and
   * retry when another writer won. A change that throws writes nothing.
   */
  async #mutate<T>(tenant: string, change: (r: DeviceRegistryRecord) => { next: DeviceRegistryRecord; result: T }): Promise<{ record: DeviceRegistryRecord; result: T }> {
    assertTenant(tenant);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const { stored, floor } = await this.#get(tenant);
      const current = stored ? this.#accept(stored, floor) : { ...newRegistry(tenant, this.#now()), generation: 0 };
      const { next, result } = change(current);
      const record: DeviceRegistryRecord = { ...next, generation: current.generation + 1 };
      try {
        const written = stored
          ? await this.#storage.updateDevices({ record, seal: this.seal(record, stored.revision) }, stored.revision)
          : await this.#storage.createDevices({ record, seal: this.seal(record, 0) });
        this.#anchor.note(tenant, DEVICES_RECORD, record.generation);
        return { record: written.record, result };
      } catch (err) {
        // Another writer created or changed the record first: read it again.
        if (!(err instanceof StorageConflictError || (!stored && (err as { code?: string }).code === 'ALREADY_EXISTS'))) throw err;
        await new Promise((r) => setTimeout(r, Math.random() * 5 * (attempt + 1)));
      }
    }
    throw new StorageConflictError(`the device record of tenant ${tenant} is being changed by too many writers`);
  }
}
