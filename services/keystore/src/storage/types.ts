// One interface for every storage backend (file, NATS JetStream KV). Writes are
// compare-and-set on a per-ring revision so several writers (requests in one
// process, or several keystore instances sharing a KV bucket) never lose an
// update: a stale write throws StorageConflictError and the caller retries.
import type { KeyRingRecord } from '../model.js';

export interface StoredRing {
  record: KeyRingRecord;
  /** Opaque to callers; pass it back to `update`. */
  revision: number;
}

export interface KeyStorage {
  /**
   * Binds the store to a master key: an empty store records the key id, a
   * store holding another id is refused (MasterKeyError) before any key is read.
   */
  init(masterKeyId: string): Promise<void>;
  get(tenant: string, ring: string): Promise<StoredRing | undefined>;
  /** AlreadyExistsError when the ring exists. Resolves once durable. */
  create(record: KeyRingRecord): Promise<StoredRing>;
  /** StorageConflictError when the ring changed since `revision`. Resolves once durable. */
  update(record: KeyRingRecord, revision: number): Promise<StoredRing>;
  /** Every ring of a tenant, or of every tenant when `tenant` is undefined. */
  list(tenant?: string): Promise<KeyRingRecord[]>;
  /** Writes a ring whatever is there (restore). Resolves once durable. */
  put(record: KeyRingRecord): Promise<void>;
  close(): Promise<void>;
}
