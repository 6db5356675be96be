// File storage (the default): the whole store is one JSON file, replaced
// atomically on every write: write a temp file, fsync it, rename it over the
// store, fsync the directory. A write is acknowledged only after that, so a
// `kill -9` (or power loss) at any moment leaves either the old or the new
// file, never a torn one, and loses nothing acknowledged.
//
// One process owns the file at a time (a lock file holding its pid); several
// keystore instances share state through the NATS KV backend instead.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AlreadyExistsError, MasterKeyError, StorageConflictError, StorageError } from '../errors.js';
import { assertDeviceRegistryRecord, type DeviceRegistryRecord } from '../device-model.js';
import { assertRingRecord, type KeyRingRecord } from '../model.js';
import { releaseLock, takeLock } from '../pid-lock.js';
import type { KeyStorage, SealedDevices, SealedRing, StoredDevices, StoredRing } from './types.js';

export const FILE_FORMAT = 'fle-keystore-file/v1';

/** One ring in the file: the record, its revision, and its tag (absent in stores written before tags). */
interface FileRing {
  record: KeyRingRecord;
  revision: number;
  mac?: string;
  prevRevision?: number;
}

/** One tenant's device record in the file (always tagged). */
interface FileDevices {
  record: DeviceRegistryRecord;
  revision: number;
  mac: string;
  prevRevision: number;
}

interface FileContents {
  format: typeof FILE_FORMAT;
  masterKeyId: string | null;
  rings: Record<string, FileRing>;
  /** tenant -> device record; absent in stores written before devices existed. */
  devices?: Record<string, FileDevices>;
}

function toStored(f: FileRing): StoredRing {
  return {
    record: f.record,
    revision: f.revision,
    seal: f.mac === undefined ? undefined : { mac: f.mac, prevRevision: f.prevRevision ?? -1 },
  };
}

function toStoredDevices(f: FileDevices): StoredDevices {
  return { record: f.record, revision: f.revision, seal: { mac: f.mac, prevRevision: f.prevRevision } };
}

// Paths this process holds open: a lock file with our own pid that is not in
// here was left by an earlier process that had the same pid (pid 1 in containers).
const openHere = new Set<string>();

export class FileKeyStorage implements KeyStorage {
  readonly path: string;
  #state: FileContents;
  #queue: Promise<unknown> = Promise.resolve();
  #lockPath: string | undefined;
  #closed = false;

  private constructor(path: string, state: FileContents, lockPath: string | undefined) {
    this.path = path;
    this.#state = state;
    this.#lockPath = lockPath;
  }

  /**
   * A snapshot of the store for reading only (backups while the keystore runs):
   * no lock is taken, and every write throws. Renames are atomic, so the file
   * read is always one complete state.
   */
  static openReadOnly(path: string): FileKeyStorage {
    return new FileKeyStorage(path, readStoreFile(path), undefined);
  }

  /** Opens (or starts) the store at `path`, taking its lock. */
  static open(path: string): FileKeyStorage {
    const dir = dirname(path);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const lockPath = `${path}.lock`;
    if (openHere.has(lockPath)) throw new StorageError(`store ${path} is already open in this process`);
    takeLock(lockPath);
    openHere.add(lockPath);
    try {
      removeStaleTempFiles(path);
      return new FileKeyStorage(path, readStoreFile(path), lockPath);
    } catch (err) {
      releaseLock(lockPath);
      openHere.delete(lockPath);
      throw err;
    }
  }

  async init(masterKeyId: string): Promise<void> {
    if (this.#state.masterKeyId === masterKeyId) return;
    if (this.#state.masterKeyId !== null) {
      throw new MasterKeyError(`store ${this.path} was written under master key ${this.#state.masterKeyId}, not ${masterKeyId}`);
    }
    if (this.#lockPath === undefined) return; // a read-only snapshot of an empty store: nothing to bind
    await this.#commit((s) => ({ ...s, masterKeyId }));
  }

  async get(tenant: string, ring: string): Promise<StoredRing | undefined> {
    const f = this.#state.rings[keyOf(tenant, ring)];
    return f && toStored(f);
  }

  async create({ record, seal }: SealedRing): Promise<StoredRing> {
    const key = keyOf(record.tenant, record.ring);
    let stored!: FileRing;
    await this.#commit((s) => {
      if (s.rings[key]) throw new AlreadyExistsError(`key ring ${record.tenant}/${record.ring} already exists`);
      stored = { record, revision: 1, mac: seal.mac, prevRevision: seal.prevRevision };
      return { ...s, rings: { ...s.rings, [key]: stored } };
    });
    return toStored(stored);
  }

  async update({ record, seal }: SealedRing, revision: number): Promise<StoredRing> {
    const key = keyOf(record.tenant, record.ring);
    if (seal.prevRevision !== revision) throw new StorageError(`key ring ${record.tenant}/${record.ring}: tag bound to revision ${seal.prevRevision}, written over ${revision}`);
    let stored!: FileRing;
    await this.#commit((s) => {
      const current = s.rings[key];
      if (!current || current.revision !== revision) {
        throw new StorageConflictError(`key ring ${record.tenant}/${record.ring} changed concurrently`);
      }
      stored = { record, revision: revision + 1, mac: seal.mac, prevRevision: seal.prevRevision };
      return { ...s, rings: { ...s.rings, [key]: stored } };
    });
    return toStored(stored);
  }

  async list(tenant?: string): Promise<StoredRing[]> {
    return Object.values(this.#state.rings)
      .filter((f) => tenant === undefined || f.record.tenant === tenant)
      .sort((a, b) => (a.record.tenant === b.record.tenant ? cmp(a.record.ring, b.record.ring) : cmp(a.record.tenant, b.record.tenant)))
      .map(toStored);
  }

  async getDevices(tenant: string): Promise<StoredDevices | undefined> {
    const f = this.#state.devices?.[tenant];
    return f && toStoredDevices(f);
  }

  async createDevices({ record, seal }: SealedDevices): Promise<StoredDevices> {
    let stored!: FileDevices;
    await this.#commit((s) => {
      if (s.devices?.[record.tenant]) throw new AlreadyExistsError(`tenant ${record.tenant} has a device record already`);
      stored = { record, revision: 1, mac: seal.mac, prevRevision: seal.prevRevision };
      return { ...s, devices: { ...s.devices, [record.tenant]: stored } };
    });
    return toStoredDevices(stored);
  }

  async updateDevices({ record, seal }: SealedDevices, revision: number): Promise<StoredDevices> {
    if (seal.prevRevision !== revision) throw new StorageError(`devices of ${record.tenant}: tag bound to revision ${seal.prevRevision}, written over ${revision}`);
    let stored!: FileDevices;
    await this.#commit((s) => {
      const current = s.devices?.[record.tenant];
      if (!current || current.revision !== revision) throw new StorageConflictError(`devices of tenant ${record.tenant} changed concurrently`);
      stored = { record, revision: revision + 1, mac: seal.mac, prevRevision: seal.prevRevision };
      return { ...s, devices: { ...s.devices, [record.tenant]: stored } };
    });
    return toStoredDevices(stored);
  }

  async listDevices(): Promise<StoredDevices[]> {
    return Object.values(this.#state.devices ?? {})
      .sort((a, b) => cmp(a.record.tenant, b.record.tenant))
      .map(toStoredDevices);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#queue.catch(() => undefined);
    if (this.#lockPath === undefined) return;
    releaseLock(this.#lockPath);
    openHere.delete(this.#lockPath);
  }

  /**
   * Serialises writes: computes the next state from the current one, makes it
   * durable, and only then makes it visible (so a failed write changes nothing).
   */
  #commit(change: (s: FileContents) => FileContents): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.#closed) throw new StorageError('store is closed');
      if (this.#lockPath === undefined) throw new StorageError(`store ${this.path} is open read-only`);
      const next = change(this.#state);
      await writeAtomically(this.path, JSON.stringify(next));
      this.#state = next;
    };
    const p = this.#queue.then(run, run);
    this.#queue = p.catch(() => undefined);
    return p;
  }
}

function keyOf(tenant: string, ring: string): string {
  // Names cannot hold "/" (model.ts), so the key is unambiguous.
  return `${tenant}/${ring}`;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export async function writeAtomically(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(text, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    const dir = await open(dirname(path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // already renamed or never created
    }
    const code = (err as NodeJS.ErrnoException).code;
    throw new StorageError(`cannot write ${path}${code ? ` (${code})` : ''}`, { cause: err });
  }
}

/** Parses and checks the whole store; a store that does not parse is refused, never half-used. */
export function readStoreFile(path: string): FileContents {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { format: FILE_FORMAT, masterKeyId: null, rings: {} };
    throw new StorageError(`cannot read ${path}`, { cause: err });
  }
  let parsed: FileContents;
  try {
    parsed = JSON.parse(text) as FileContents;
  } catch (err) {
    throw new StorageError(`${path} is not valid JSON`, { cause: err });
  }
  if (parsed?.format !== FILE_FORMAT || typeof parsed.rings !== 'object' || parsed.rings === null) {
    throw new StorageError(`${path} is not a ${FILE_FORMAT} store`);
  }
  for (const [key, stored] of Object.entries(parsed.rings)) {
    const tagged = stored?.mac !== undefined;
    try {
      // Untagged records (older stores) may lack a generation; the Keystore refuses them until sealed.
      assertRingRecord(stored?.record, { legacy: !tagged });
    } catch (err) {
      throw new StorageError(`${path}: ring ${key}: ${(err as Error).message}`);
    }
    if (keyOf(stored.record.tenant, stored.record.ring) !== key || !Number.isInteger(stored.revision)) {
      throw new StorageError(`${path}: ring ${key} is inconsistent`);
    }
    if (tagged && (typeof stored.mac !== 'string' || !Number.isSafeInteger(stored.prevRevision))) {
      throw new StorageError(`${path}: ring ${key} has a malformed tag`);
    }
  }
  if (parsed.devices !== undefined && (typeof parsed.devices !== 'object' || parsed.devices === null || Array.isArray(parsed.devices))) {
    throw new StorageError(`${path}: devices is not a mapping`);
  }
  for (const [tenant, stored] of Object.entries(parsed.devices ?? {})) {
    try {
      assertDeviceRegistryRecord(stored?.record);
    } catch (err) {
      throw new StorageError(`${path}: devices of ${tenant}: ${(err as Error).message}`);
    }
    if (stored.record.tenant !== tenant || !Number.isInteger(stored.revision) || typeof stored.mac !== 'string' || !Number.isSafeInteger(stored.prevRevision)) {
      throw new StorageError(`${path}: devices of ${tenant} are inconsistent`);
    }
  }
  return parsed;
}

function removeStaleTempFiles(path: string): void {
  const prefix = `${basename(path)}.tmp-`;
  for (const name of readdirSync(dirname(path))) {
    if (name.startsWith(prefix)) unlinkSync(join(dirname(path), name));
  }
}
