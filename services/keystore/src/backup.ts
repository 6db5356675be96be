// Encrypted backups (`fle keystore backup` / `restore`). A backup holds every
// key ring record as stored (keys still wrapped under the master key), and the
// whole of it is sealed again with ChaCha20-Poly1305 under a backup key derived
// from the master key, so tenant and ring names and states do not leak either.
// The header (format, time, master key id) is bound as AAD.
//
// A backup keeps versions destroyed after it was taken: destroying a key for
// good also means expiring the backups that hold it.
//
// Only records that authenticate go into a backup (a tampered one would be
// tagged afresh by a restore); the backup's AEAD authenticates them from then
// on, and a restore tags each again with a generation past any anchor
// (Keystore.restoreRecord). The tenants' device records (device-model.ts) go
// along the same way; backups written before devices existed hold none.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { SecretKey } from '@fle/field-crypto';
import { BackupError, MasterKeyError } from './errors.js';
import { deriveFromMaster, masterKeyId } from './master-key.js';
import { assertDeviceRegistryRecord, type DeviceRegistryRecord } from './device-model.js';
import { assertRingRecord, type KeyRingRecord, type KeyRingView } from './model.js';
import type { Keystore } from './keystore.js';
import { writeAtomically } from './storage/file.js';

export const BACKUP_FORMAT = 'fle-keystore-backup/v1';

export interface BackupFile {
  format: typeof BACKUP_FORMAT;
  createdAt: string;
  masterKeyId: string;
  /** base64 of the 12-byte nonce. */
  nonce: string;
  /** base64 of ciphertext || tag. */
  ciphertext: string;
}

function aad(h: Pick<BackupFile, 'format' | 'createdAt' | 'masterKeyId'>): Buffer {
  return Buffer.from(`${h.format}\0${h.createdAt}\0${h.masterKeyId}`, 'utf8');
}

export function sealBackup(records: KeyRingRecord[], master: SecretKey, now = new Date(), devices: DeviceRegistryRecord[] = []): BackupFile {
  const header = { format: BACKUP_FORMAT, createdAt: now.toISOString(), masterKeyId: masterKeyId(master) } as const;
  const nonce = randomBytes(12);
  const key = deriveFromMaster(master, 'backup');
  try {
    const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    const plain = Buffer.from(JSON.stringify({ rings: records, devices }), 'utf8');
    c.setAAD(aad(header), { plaintextLength: plain.length });
    const ct = Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
    return { ...header, nonce: nonce.toString('base64'), ciphertext: ct.toString('base64') };
  } finally {
    key.fill(0);
  }
}

/** The key ring records of a backup. */
export function openBackup(file: BackupFile, master: SecretKey): KeyRingRecord[] {
  return openBackupContents(file, master).rings;
}

/** Everything a backup holds: key ring records and device records. */
export function openBackupContents(file: BackupFile, master: SecretKey): { rings: KeyRingRecord[]; devices: DeviceRegistryRecord[] } {
  if (file.masterKeyId !== masterKeyId(master)) {
    throw new MasterKeyError(`backup was made under master key ${file.masterKeyId}, not ${masterKeyId(master)}`);
  }
  const key = deriveFromMaster(master, 'backup');
  let plain: Buffer;
  try {
    const raw = Buffer.from(file.ciphertext, 'base64');
    if (raw.length < 16) throw new Error('short');
    const d = createDecipheriv('chacha20-poly1305', key, Buffer.from(file.nonce, 'base64'), { authTagLength: 16 });
    d.setAAD(aad(file), { plaintextLength: raw.length - 16 });
    d.setAuthTag(raw.subarray(raw.length - 16));
    plain = Buffer.concat([d.update(raw.subarray(0, raw.length - 16)), d.final()]);
  } catch {
    throw new BackupError('backup does not authenticate (corrupted or tampered)');
  } finally {
    key.fill(0);
  }
  const doc = JSON.parse(plain.toString('utf8')) as { rings?: unknown; devices?: unknown };
  if (!Array.isArray(doc.rings)) throw new BackupError('backup holds no ring list');
  // Backups from before generations existed hold records without one.
  for (const r of doc.rings) assertRingRecord(r, { legacy: true });
  const devices = doc.devices ?? [];
  if (!Array.isArray(devices)) throw new BackupError('backup holds a malformed device list');
  for (const d of devices) assertDeviceRegistryRecord(d);
  return { rings: doc.rings as KeyRingRecord[], devices: devices as DeviceRegistryRecord[] };
}

/** Every record of the keystore's storage, authenticated (a refused ring fails the backup). */
export async function writeBackup(keystore: Keystore, master: SecretKey, path: string): Promise<{ rings: number; deviceRecords: number }> {
  const records = await keystore.exportRecords();
  const devices = await keystore.devices.exportRecords();
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  await writeAtomically(path, `${JSON.stringify(sealBackup(records, master, new Date(), devices), null, 2)}\n`);
  return { rings: records.length, deviceRecords: devices.length };
}

export function readBackupFile(path: string): BackupFile {
  let doc: BackupFile;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8')) as BackupFile;
  } catch (err) {
    throw new BackupError(`cannot read backup ${path}`, { cause: err });
  }
  if (doc?.format !== BACKUP_FORMAT || typeof doc.ciphertext !== 'string' || typeof doc.nonce !== 'string' || typeof doc.masterKeyId !== 'string') {
    throw new BackupError(`${path} is not a ${BACKUP_FORMAT} file`);
  }
  return doc;
}

/**
 * Writes every ring of the backup through the keystore (tagged, generation
 * past any anchor). Refuses to overwrite a ring that exists unless `force` (a
 * restore must not silently undo newer changes): checked for every ring before
 * any is written.
 */
export async function restoreRecords(
  keystore: Keystore,
  records: KeyRingRecord[],
  opts: { force?: boolean; devices?: DeviceRegistryRecord[] } = {},
): Promise<{ rings: number; restored: KeyRingView[]; restoredDevices: Array<{ tenant: string; generation: number; devices: number }> }> {
  const devices = opts.devices ?? [];
  if (!opts.force) {
    for (const r of records) {
      if (await keystore.storage.get(r.tenant, r.ring)) {
        throw new BackupError(`key ring ${r.tenant}/${r.ring} exists in the store; pass --force to overwrite it from the backup`);
      }
    }
    for (const d of devices) {
      if (await keystore.storage.getDevices(d.tenant)) {
        throw new BackupError(`the devices of tenant ${d.tenant} exist in the store; pass --force to overwrite them from the backup`);
      }
    }
  }
  const restored: KeyRingView[] = [];
  for (const r of records) restored.push(await keystore.restoreRecord(r, { force: Boolean(opts.force) }));
  const restoredDevices = [];
  for (const d of devices) restoredDevices.push(await keystore.devices.restoreRecord(d, { force: Boolean(opts.force) }));
  return { rings: records.length, restored, restoredDevices };
}
