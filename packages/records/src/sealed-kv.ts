// Sealed records in a NATS KV bucket: every value is sealed (sealed-record.ts)
// for its key before it is written and opened after it is read, and writes
// that depend on what was read carry the revision they read (optimistic
// concurrency), so a writer never overwrites a change it has not seen: the
// rewrap (rewrap.ts) and the team's own writers can run at the same time.
import type { JetStreamClient, KV, KvEntry, KvOptions } from 'nats';
import { FieldCipher, type CompiledSchema, type KeyProvider } from '@fle/field-crypto';
import { RecordConflictError, RecordExistsError, RecordStoreUnavailableError } from './errors.js';
import type { RecordType } from './record-type.js';
import { assertRecordKey, assertStoreName, openRecord, sealRecord, type RecordId } from './sealed-record.js';

export interface SealedKvOptions<T> {
  /** The bucket (`js.views.kv(name)`). */
  readonly kv: KV;
  /** The store name bound into every record's identity (`rec/<store>/<key>`); SealedKv.open uses the bucket's name. */
  readonly store: string;
  readonly type: RecordType<T>;
  /** compileSchema(root) of the schema that declares `type`. */
  readonly schema: CompiledSchema;
  /** Keys of the records' ring: a provider only the storing service's identity can fill (keystore policy, docs/records.md). */
  readonly keys: KeyProvider;
}

export interface SealedKvOpenOptions<T> extends Omit<SealedKvOptions<T>, 'kv' | 'store'> {
  readonly bucket: string;
  /** Default: the bucket's name. */
  readonly store?: string;
  /**
   * Passed to `js.views.kv` when the bucket is created (history, replicas, ...);
   * an existing bucket is used as it is. A new bucket is always bounded: by
   * default 64 MiB, values up to 1 MiB, discard new (a full bucket refuses the
   * write; nothing stored is dropped), as fle's own buckets are
   * (nats-setup storage budget; the servers it configures refuse an unbounded stream).
   */
  readonly bucketOptions?: Partial<KvOptions>;
}

/** The bounds of a bucket SealedKv.open creates (bucketOptions overrides them). */
export const DEFAULT_BUCKET_LIMITS = Object.freeze({ maxBucketSize: 64 * 1024 * 1024, maxValueSize: 1024 * 1024 });

/** A record as read: opened value and the revision to pass to `update`. */
export interface SealedEntry<T> {
  readonly key: string;
  readonly value: T;
  readonly revision: number;
}

/** JetStream's "wrong last sequence" (10071): the key's revision is not the one expected. */
export function isRevisionConflict(err: unknown): boolean {
  const e = err as { api_error?: { err_code?: number }; message?: string } | undefined;
  return e?.api_error?.err_code === 10071 || /wrong last sequence/i.test(e?.message ?? '');
}

function unavailable(what: string, err: unknown): RecordStoreUnavailableError {
  return new RecordStoreUnavailableError(`record store: ${what} failed`, { cause: err });
}

/**
 *   const accounts = await SealedKv.open(js, { bucket: 'accounts', type: recordType('team.v1.Account', Account), schema, keys });
 *   const rev = await accounts.create('bank-7.42', account);
 *   const { value, revision } = (await accounts.get('bank-7.42'))!;
 *   await accounts.update('bank-7.42', { ...value, status: 'closed' }, revision);
 */
export class SealedKv<T> {
  readonly kv: KV;
  readonly store: string;
  readonly type: RecordType<T>;
  readonly #cipher: FieldCipher;

  constructor(opts: SealedKvOptions<T>) {
    this.kv = opts.kv;
    this.store = assertStoreName(opts.store);
    this.type = opts.type;
    // The type must be a root the schema can seal (a tenant field when it has sensitive fields).
    opts.schema.plan(opts.type.typeName);
    this.#cipher = new FieldCipher({ schema: opts.schema, keys: opts.keys });
  }

  /** Binds to (or creates) the bucket; the store name defaults to the bucket's. */
  static async open<T>(js: JetStreamClient, opts: SealedKvOpenOptions<T>): Promise<SealedKv<T>> {
    const store = assertStoreName(opts.store ?? opts.bucket);
    let kv: KV;
    try {
      kv = await js.views.kv(opts.bucket, { history: 1, ...DEFAULT_BUCKET_LIMITS, ...opts.bucketOptions });
    } catch (err) {
      throw unavailable(`opening bucket ${opts.bucket}`, err);
    }
    return new SealedKv({ kv, store, type: opts.type, schema: opts.schema, keys: opts.keys });
  }

  #id(key: string): RecordId {
    return { store: this.store, key: assertRecordKey(key) };
  }

  /** The record under `key`, opened; undefined when there is none (or it was deleted). */
  async get(key: string): Promise<SealedEntry<T> | undefined> {
    const id = this.#id(key);
    let entry: KvEntry | null;
    try {
      entry = await this.kv.get(key);
    } catch (err) {
      throw unavailable('get', err);
    }
    if (!entry || entry.operation !== 'PUT') return undefined;
    const value = await openRecord(this.#cipher, this.type, id, entry.value);
    return { key, value, revision: entry.revision };
  }

  /** Seals and stores a new record; RecordExistsError when the key holds one. Returns its revision. */
  async create(key: string, value: T): Promise<number> {
    const bytes = await sealRecord(this.#cipher, this.type, this.#id(key), value);
    try {
      return await this.kv.create(key, bytes);
    } catch (err) {
      if (isRevisionConflict(err)) throw new RecordExistsError(key);
      throw unavailable('create', err);
    }
  }

  /**
   * Seals and stores `value` if the record is still at `revision` (the one
   * `get` returned); RecordConflictError when someone wrote it meanwhile: read
   * again, apply the change again, retry.
   */
  async update(key: string, value: T, revision: number): Promise<number> {
    const bytes = await sealRecord(this.#cipher, this.type, this.#id(key), value);
    try {
      return await this.kv.update(key, bytes, revision);
    } catch (err) {
      if (isRevisionConflict(err)) throw new RecordConflictError(key, revision);
      throw unavailable('update', err);
    }
  }

  /** Seals and stores `value` whatever the key held: for values that do not depend on what was there. */
  async put(key: string, value: T): Promise<number> {
    const bytes = await sealRecord(this.#cipher, this.type, this.#id(key), value);
    try {
      return await this.kv.put(key, bytes);
    } catch (err) {
      throw unavailable('put', err);
    }
  }

  /** Deletes the record; with `revision`, only if it is still at that revision (RecordConflictError otherwise). */
  async delete(key: string, revision?: number): Promise<void> {
    this.#id(key);
    try {
      await this.kv.delete(key, revision === undefined ? undefined : { previousSeq: revision });
    } catch (err) {
      if (revision !== undefined && isRevisionConflict(err)) throw new RecordConflictError(key, revision);
      throw unavailable('delete', err);
    }
  }
}
