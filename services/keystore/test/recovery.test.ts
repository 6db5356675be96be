import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecretKey } from '@fle/field-crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { openBackup, openBackupContents, readBackupFile, restoreRecords, sealBackup, writeBackup } from '../src/backup.js';
import { DEVICES_RECORD } from '../src/device-model.js';
import { GenerationAnchor } from '../src/record-auth.js';
import { BackupError, MasterKeyError } from '../src/errors.js';
import { Keystore } from '../src/keystore.js';
import { masterKeyId } from '../src/master-key.js';
import { combineShares, parseShare, splitMasterKey } from '../src/recovery-shares.js';
import { FileKeyStorage } from '../src/storage/file.js';

const root = mkdtempSync(join(tmpdir(), 'fle-rec-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const master = new SecretKey(new Uint8Array(32).map((_, i) => i * 7));

describe('recovery shares', () => {
  it('any T of N shares rebuild the master key', async () => {
    const shares = await splitMasterKey(master, 5, 3);
    expect(shares).toHaveLength(5);
    for (const s of shares) expect(s).toMatch(/^fle-share:v1:[0-9a-f]{16}:3:[0-9a-f]{66}$/);
    for (const pick of [[0, 1, 2], [4, 2, 0], [1, 3, 4], [0, 1, 2, 3, 4]]) {
      const key = await combineShares(pick.map((i) => shares[i]!));
      expect(Buffer.from(key.exposeBytes())).toEqual(Buffer.from(master.exposeBytes()));
    }
  });

  it('fewer than T shares, repeated shares, mixed or corrupted shares are refused', async () => {
    const shares = await splitMasterKey(master, 5, 3);
    await expect(combineShares(shares.slice(0, 2))).rejects.toThrow(/need 3 distinct/);
    await expect(combineShares([shares[0]!, shares[0]!, shares[1]!])).rejects.toThrow(/need 3 distinct/);
    const other = await splitMasterKey(new SecretKey(new Uint8Array(32).fill(1)), 3, 3);
    await expect(combineShares([shares[0]!, shares[1]!, other[2]!])).rejects.toThrow(/different master keys/);
    const s = shares[2]!;
    const flipped = s.slice(0, -3) + (s.at(-3) === '0' ? '1' : '0') + s.slice(-2);
    await expect(combineShares([shares[0]!, shares[1]!, flipped])).rejects.toThrow(/share is wrong or corrupted/);
    expect(() => parseShare('hello')).toThrow(MasterKeyError);
    await expect(splitMasterKey(master, 2, 3)).rejects.toThrow(/threshold <= shares/);
    await expect(splitMasterKey(master, 3, 1)).rejects.toThrow(/2 <= threshold/);
  });
});

describe('backups', () => {
  it('a backup restored into a wiped store brings every key back', async () => {
    const path = join(root, 'a', 'keystore.json');
    const storage = FileKeyStorage.open(path);
    await storage.init(masterKeyId(master));
    const ks = new Keystore({ storage, masterKey: master });
    await ks.createRing('acme', 'default');
    await ks.rotate('acme', 'default');
    await ks.createRing('globex', 'pci', { alg: 2 });
    const before = [
      Buffer.from((await ks.keyVersion('acme', 'default', 1)).key.exposeBytes()),
      Buffer.from((await ks.keyVersion('acme', 'default', 2)).key.exposeBytes()),
      Buffer.from((await ks.keyVersion('globex', 'pci', 1)).key.exposeBytes()),
    ];
    const backupPath = join(root, 'a', 'backup.json');
    expect(await writeBackup(ks, master, backupPath)).toEqual({ rings: 2, deviceRecords: 0 });
    await storage.close();

    const text = readFileSync(backupPath, 'utf8');
    expect(text).not.toContain('acme'); // names are encrypted too
    for (const k of before) expect(text).not.toContain(k.toString('base64'));

    rmSync(join(root, 'a', 'keystore.json'));
    const wiped = FileKeyStorage.open(path);
    await wiped.init(masterKeyId(master));
    const records = openBackup(readBackupFile(backupPath), master);
    const restored = new Keystore({ storage: wiped, masterKey: master });
    expect(await restoreRecords(restored, records)).toMatchObject({ rings: 2 });
    const after = [
      Buffer.from((await restored.keyVersion('acme', 'default', 1)).key.exposeBytes()),
      Buffer.from((await restored.keyVersion('acme', 'default', 2)).key.exposeBytes()),
      Buffer.from((await restored.keyVersion('globex', 'pci', 1)).key.exposeBytes()),
    ];
    expect(after).toEqual(before);
    expect((await restored.keyVersion('acme', 'default', 2)).info.state).toBe('pending');
    // a restore does not silently overwrite what exists
    await expect(restoreRecords(restored, records)).rejects.toThrow(/pass --force/);
    await restoreRecords(restored, records, { force: true });
    await wiped.close();
  });

  it('device records go into the backup and come back with their devices, past any anchored generation', async () => {
    const path = join(root, 'd', 'keystore.json');
    const storage = FileKeyStorage.open(path);
    await storage.init(masterKeyId(master));
    const anchor = new GenerationAnchor();
    const ks = new Keystore({ storage, masterKey: master, anchor });
    const { token } = await ks.devices.issueEnrollment('acme', 60_000);
    const spki = generateKeyPairSync('x25519').publicKey.export({ format: 'der', type: 'spki' });
    const d = await ks.devices.enroll('acme', { token, publicKey: new Uint8Array(spki.subarray(spki.length - 32)), label: 'till' });
    const backupPath = join(root, 'd', 'backup.json');
    expect(await writeBackup(ks, master, backupPath)).toEqual({ rings: 0, deviceRecords: 1 });
    await ks.devices.revoke('acme', d.id); // generation 3, newer than the backup's 2
    await storage.close();
    expect(readFileSync(backupPath, 'utf8')).not.toContain(d.id);

    rmSync(path);
    const wiped = FileKeyStorage.open(path);
    await wiped.init(masterKeyId(master));
    const restored = new Keystore({ storage: wiped, masterKey: master, anchor });
    // The anchor remembers generation 3: the missing record is refused until restored.
    await expect(restored.devices.list('acme')).rejects.toThrow(/missing from storage/);
    const contents = openBackupContents(readBackupFile(backupPath), master);
    expect(contents.devices.map((r) => r.tenant)).toEqual(['acme']);
    const done = await restoreRecords(restored, contents.rings, { devices: contents.devices });
    expect(done.restoredDevices).toEqual([{ tenant: 'acme', generation: expect.any(Number), devices: 1 }]);
    expect(done.restoredDevices[0]!.generation).toBeGreaterThan(3);
    expect(anchor.get('acme', DEVICES_RECORD)).toBe(done.restoredDevices[0]!.generation);
    expect((await restored.devices.list('acme')).devices).toEqual([expect.objectContaining({ id: d.id, state: 'active', label: 'till' })]);
    await expect(restoreRecords(restored, [], { devices: contents.devices })).rejects.toThrow(/devices of tenant acme exist in the store; pass --force/);
    await restoreRecords(restored, [], { devices: contents.devices, force: true });
    // A backup without device records opens with none.
    expect(openBackupContents(sealBackup([], master), master).devices).toEqual([]);
    await wiped.close();
  });

  it('refuses a backup under another master key, and a tampered one', () => {
    const file = sealBackup([], master);
    expect(() => openBackup(file, new SecretKey(new Uint8Array(32)))).toThrow(/made under master key/);
    const tampered = { ...file, createdAt: '2000-01-01T00:00:00.000Z' };
    expect(() => openBackup(tampered, master)).toThrow(BackupError);
    const ct = Buffer.from(file.ciphertext, 'base64');
    ct[0]! ^= 1;
    expect(() => openBackup({ ...file, ciphertext: ct.toString('base64') }, master)).toThrow(/does not authenticate/);
    const p = join(root, 'bad.json');
    writeFileSync(p, '{"format":"nope"}');
    expect(() => readBackupFile(p)).toThrow(/is not a fle-keystore-backup\/v1 file/);
  });
});
