// NATS JetStream KV storage: bucket `fle_keystore`, one key per ring
// (`ring.<tenant>.<ring>`) plus `meta` (the master key id). Several keystore
// instances share it; every write is a compare-and-set on the key's KV
// revision (JetStream's expected-last-subject-sequence), so concurrent admins
// never lose an update. The bucket keeps history 1: a destroyed key's wrapped
// bytes must not linger as an older revision.
//
// A value is `{ record, mac, prevRevision }` (record-auth.ts): prevRevision is
// the KV revision the write replaced, bound into the tag, so the Keystore can
// tell a value written by its compare-and-set from one put there otherwise.
// Values written before tags existed are the bare record (refused until sealed).
// A tenant's device record (device-model.ts) is `devices.<tenant>`, tagged the same way.
import { connect, StorageType, type ConnectionOptions, type KV, type NatsConnection } from 'nats';
import { JETSTREAM_BUDGET, applyStreamBudget, fleConnectionOptions, kvLimits } from '@fle/nats-setup';
import { AlreadyExistsError, MasterKeyError, StorageConflictError, StorageError } from '../errors.js';
import { assertDeviceRegistryRecord } from '../device-model.js';
import { assertRingRecord } from '../model.js';
import type { KeyStorage, SealedDevices, SealedRing, StoredDevices, StoredRing } from './types.js';

export const KEYSTORE_BUCKET = 'fle_keystore';
const META_KEY = 'meta';
const META_FORMAT = 'fle-keystore-kv/v1';
/** JetStream API error: wrong last sequence (the CAS lost). */
const WRONG_LAST_SEQUENCE = 10071;

export interface NatsKvStorageOptions {
  /** nats:// or tls:// URL(s). */
  servers: string | string[];
  bucket?: string;
  /** Replicas of the bucket's stream when it is created (1, 3 or 5). */
  replicas?: number;
  /** mTLS to the NATS server: file paths. */
  tls?: { ca: string; cert: string; key: string };
  /** Extra nats.js connection options (name, timeouts). */
  connection?: Partial<ConnectionOptions>;
}

export class NatsKvKeyStorage implements KeyStorage {
  readonly #nc: NatsConnection;
  readonly #kv: KV;

  private constructor(nc: NatsConnection, kv: KV) {
    this.#nc = nc;
    this.#kv = kv;
  }

  static async open(opts: NatsKvStorageOptions): Promise<NatsKvKeyStorage> {
    let nc: NatsConnection;
    try {
      nc = await connect({
        ...fleConnectionOptions({ servers: typeof opts.servers === 'string' ? [opts.servers] : opts.servers, tls: opts.tls, identity: 'keystore', name: 'fle-keystore' }),
        ...opts.connection,
      });
    } catch (err) {
      throw new StorageError('cannot connect to NATS', { cause: err });
    }
    try {
      const bucket = opts.bucket ?? KEYSTORE_BUCKET;
      const kv = await nc.jetstream().views.kv(bucket, {
        history: 1,
        replicas: opts.replicas ?? 1,
        storage: StorageType.File,
        // Reads go through the stream leader: an instance reads what another just wrote.
        allow_direct: false,
        description: 'fle keystore: wrapped key rings',
        // Its share of the JetStream budget (@fle/nats-setup storage-budget.ts).
        ...kvLimits({ ...JETSTREAM_BUDGET.keystore, stream: `KV_${bucket}` }),
      });
      await applyStreamBudget(await nc.jetstreamManager(), { ...JETSTREAM_BUDGET.keystore, stream: `KV_${bucket}` });
      const status = await kv.status();
      if (status.history !== 1) {
        throw new StorageError(`bucket ${bucket} keeps history ${status.history}; it must be 1 so destroyed keys do not linger`);
      }
      return new NatsKvKeyStorage(nc, kv);
    } catch (err) {
      await nc.close().catch(() => undefined);
      if (err instanceof StorageError) throw err;
      throw new StorageError('cannot open the keystore KV bucket', { cause: err });
    }
  }

  async init(masterKeyId: string): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const e = await this.#call(() => this.#kv.get(META_KEY));
      if (e && e.operation === 'PUT') {
        const meta = JSON.parse(new TextDecoder().decode(e.value)) as { format?: string; masterKeyId?: string };
        if (meta.format !== META_FORMAT) throw new StorageError(`bucket meta is not ${META_FORMAT}`);
        if (meta.masterKeyId !== masterKeyId) {
          throw new MasterKeyError(`bucket was written under master key ${meta.masterKeyId}, not ${masterKeyId}`);
        }
        return;
      }
      try {
        await this.#kv.create(META_KEY, encode({ format: META_FORMAT, masterKeyId }));
        return;
      } catch (err) {
        if (!isWrongLastSequence(err)) throw new StorageError('cannot write bucket meta', { cause: err });
        // Another instance initialised it first: read and compare.
      }
    }
    throw new StorageError('cannot initialise bucket meta');
  }

  async get(tenant: string, ring: string): Promise<StoredRing | undefined> {
    const e = await this.#call(() => this.#kv.get(keyOf(tenant, ring)));
    if (!e || e.operation !== 'PUT') return undefined;
    return decodeEntry(e.value, e.key, e.revision);
  }

  async create({ record, seal }: SealedRing): Promise<StoredRing> {
    try {
      const revision = await this.#kv.create(keyOf(record.tenant, record.ring), encode({ record, mac: seal.mac, prevRevision: seal.prevRevision }));
      return { record, revision, seal };
    } catch (err) {
      if (isWrongLastSequence(err)) throw new AlreadyExistsError(`key ring ${record.tenant}/${record.ring} already exists`);
      throw new StorageError('cannot write to the keystore KV bucket', { cause: err });
    }
  }

  async update({ record, seal }: SealedRing, revision: number): Promise<StoredRing> {
    if (seal.prevRevision !== revision) throw new StorageError(`key ring ${record.tenant}/${record.ring}: tag bound to revision ${seal.prevRevision}, written over ${revision}`);
    try {
      const next = await this.#kv.update(keyOf(record.tenant, record.ring), encode({ record, mac: seal.mac, prevRevision: seal.prevRevision }), revision);
      return { record, revision: next, seal };
    } catch (err) {
      if (isWrongLastSequence(err)) throw new StorageConflictError(`key ring ${record.tenant}/${record.ring} changed concurrently`);
      throw new StorageError('cannot write to the keystore KV bucket', { cause: err });
    }
  }

  async list(tenant?: string): Promise<StoredRing[]> {
    const keys: string[] = [];
    const it = await this.#call(() => this.#kv.keys(tenant === undefined ? 'ring.>' : `ring.${tenant}.*`));
    for await (const k of it) keys.push(k);
    keys.sort();
    const out: StoredRing[] = [];
    for (const k of keys) {
      const e = await this.#call(() => this.#kv.get(k));
      if (e && e.operation === 'PUT') out.push(decodeEntry(e.value, k, e.revision));
    }
    return out;
  }

  async getDevices(tenant: string): Promise<StoredDevices | undefined> {
    const e = await this.#call(() => this.#kv.get(devicesKeyOf(tenant)));
    if (!e || e.operation !== 'PUT') return undefined;
    return decodeDevices(e.value, e.key, e.revision);
  }

  async createDevices({ record, seal }: SealedDevices): Promise<StoredDevices> {
    try {
      const revision = await this.#kv.create(devicesKeyOf(record.tenant), encode({ record, mac: seal.mac, prevRevision: seal.prevRevision }));
      return { record, revision, seal };
    } catch (err) {
      if (isWrongLastSequence(err)) throw new AlreadyExistsError(`tenant ${record.tenant} has a device record already`);
      throw new StorageError('cannot write to the keystore KV bucket', { cause: err });
    }
  }

  async updateDevices({ record, seal }: SealedDevices, revision: number): Promise<StoredDevices> {
    if (seal.prevRevision !== revision) throw new StorageError(`devices of ${record.tenant}: tag bound to revision ${seal.prevRevision}, written over ${revision}`);
    try {
      const next = await this.#kv.update(devicesKeyOf(record.tenant), encode({ record, mac: seal.mac, prevRevision: seal.prevRevision }), revision);
      return { record, revision: next, seal };
    } catch (err) {
      if (isWrongLastSequence(err)) throw new StorageConflictError(`devices of tenant ${record.tenant} changed concurrently`);
      throw new StorageError('cannot write to the keystore KV bucket', { cause: err });
    }
  }

  async listDevices(): Promise<StoredDevices[]> {
    const keys: string[] = [];
    const it = await this.#call(() => this.#kv.keys('devices.*'));
    for await (const k of it) keys.push(k);
    keys.sort();
    const out: StoredDevices[] = [];
    for (const k of keys) {
      const e = await this.#call(() => this.#kv.get(k));
      if (e && e.operation === 'PUT') out.push(decodeDevices(e.value, k, e.revision));
    }
    return out;
  }

  async close(): Promise<void> {
    await this.#nc.drain().catch(() => this.#nc.close());
  }

  async #call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw new StorageError('keystore KV bucket unavailable', { cause: err });
    }
  }
}

function keyOf(tenant: string, ring: string): string {
  // Tenant and ring names are single KV tokens (model.ts: no dots or wildcards).
  return `ring.${tenant}.${ring}`;
}

function devicesKeyOf(tenant: string): string {
  return `devices.${tenant}`;
}

function decodeDevices(value: Uint8Array, key: string, revision: number): StoredDevices {
  try {
    const doc = JSON.parse(new TextDecoder().decode(value)) as { record?: unknown; mac?: unknown; prevRevision?: unknown };
    if (typeof doc !== 'object' || doc === null) throw new Error('not an object');
    for (const k of Object.keys(doc)) if (!['record', 'mac', 'prevRevision'].includes(k)) throw new Error(`unknown field ${k}`);
    const record = doc.record;
    assertDeviceRegistryRecord(record);
    if (devicesKeyOf(record.tenant) !== key) throw new Error('key does not match record');
    if (typeof doc.mac !== 'string' || !Number.isSafeInteger(doc.prevRevision)) throw new Error('malformed tag');
    return { record, revision, seal: { mac: doc.mac, prevRevision: doc.prevRevision as number } };
  } catch (err) {
    throw new StorageError(`KV entry ${key} is malformed`, { cause: err });
  }
}

function encode(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

function decodeEntry(value: Uint8Array, key: string, revision: number): StoredRing {
  try {
    const doc = JSON.parse(new TextDecoder().decode(value)) as { record?: unknown; mac?: unknown; prevRevision?: unknown };
    // A bare record: written before records carried tags.
    const tagged = typeof doc === 'object' && doc !== null && 'record' in doc;
    const record = tagged ? doc.record : doc;
    assertRingRecord(record, { legacy: !tagged });
    if (keyOf(record.tenant, record.ring) !== key) throw new Error('key does not match record');
    if (!tagged) return { record, revision, seal: undefined };
    for (const k of Object.keys(doc)) if (!['record', 'mac', 'prevRevision'].includes(k)) throw new Error(`unknown field ${k}`);
    if (typeof doc.mac !== 'string' || !Number.isSafeInteger(doc.prevRevision)) throw new Error('malformed tag');
    return { record, revision, seal: { mac: doc.mac, prevRevision: doc.prevRevision as number } };
  } catch (err) {
    throw new StorageError(`KV entry ${key} is malformed`, { cause: err });
  }
}

function isWrongLastSequence(err: unknown): boolean {
  return (err as { api_error?: { err_code?: number } })?.api_error?.err_code === WRONG_LAST_SEQUENCE;
}
