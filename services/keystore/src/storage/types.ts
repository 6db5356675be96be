// One interface for every storage backend (file, NATS JetStream KV). Writes are
// compare-and-set on a per-ring revision so several writers (requests in one
// process, or several keystore instances sharing a KV bucket) never lose an
// update: a stale write throws StorageConflictError and the caller retries.
// Storage keeps each record's authentication tag (record-auth.ts) beside it and
// checks only its shape; the Keystore, which holds the key, checks the tag.
import type { DeviceRegistryRecord } from '../device-model.js';
import type { KeyRingRecord } from '../model.js';
import type { RecordSeal } from '../record-auth.js';

export interface StoredRing {
  record: KeyRingRecord;
  /** Opaque to callers; pass it back to `update`. */
  revision: number;
  /** Undefined: a record written before records were authenticated (or stripped of its tag). */
  seal: RecordSeal | undefined;
}

/** A record with its tag, ready to write. */
export interface SealedRing {
  record: KeyRingRecord;
  seal: RecordSeal;
}

/** A tenant's device record (device-model.ts) as stored: always tagged (devices came after tags). */
export interface StoredDevices {
  record: DeviceRegistryRecord;
  revision: number;
  seal: RecordSeal | undefined;
}

export interface SealedDevices {
  record: DeviceRegistryRecord;
  seal: RecordSeal;
}

export interface KeyStorage {
  /**
   * Binds the store to a master key: an empty store records the key id, a
   * store holding another id is refused (MasterKeyError) before any key is read.
   */
  init(masterKeyId: string): Promise<void>;
  get(tenant: string, ring: string): Promise<StoredRing | undefined>;
  /** AlreadyExistsError when the ring exists. `seal.prevRevision` is 0. Resolves once durable. */
  create(sealed: SealedRing): Promise<StoredRing>;
  /**
   * StorageConflictError when the ring changed since `revision`, which is
   * `seal.prevRevision`. Resolves once durable.
   */
  update(sealed: SealedRing, revision: number): Promise<StoredRing>;
  /** Every ring of a tenant, or of every tenant when `tenant` is undefined. */
  list(tenant?: string): Promise<StoredRing[]>;
  /** A tenant's device record, kept beside its rings with the same compare-and-set rules. */
  getDevices(tenant: string): Promise<StoredDevices | undefined>;
  /** AlreadyExistsError when the tenant has a device record. */
  createDevices(sealed: SealedDevices): Promise<StoredDevices>;
  /** StorageConflictError when the record changed since `revision` (= `seal.prevRevision`). */
  updateDevices(sealed: SealedDevices, revision: number): Promise<StoredDevices>;
  /** Every tenant's device record. */
  listDevices(): Promise<StoredDevices[]>;
  close(): Promise<void>;
}
