import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecretKey } from '@fle/field-crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, InvalidTransitionError, NotFoundError, StorageConflictError } from '../src/errors.js';
import { Keystore } from '../src/keystore.js';
import { masterKeyId } from '../src/master-key.js';
import { FileKeyStorage } from '../src/storage/file.js';
import type { KeyStorage, StoredRing } from '../src/storage/types.js';

const root = mkdtempSync(join(tmpdir(), 'fle-ks-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const master = (): SecretKey => new SecretKey(new Uint8Array(32).fill(9));

async function open(): Promise<{ ks: Keystore; storage: FileKeyStorage; path: string }> {
  const path = join(root, `k${n++}`, 'keystore.json');
  const storage = FileKeyStorage.open(path);
  await storage.init(masterKeyId(master()));
  return { ks: new Keystore({ storage, masterKey: master() }), storage, path };
}

describe('Keystore', () => {
  it('hands out the primary for sealing and any live version for opening', async () => {
    const { ks, storage } = await open();
    await ks.createRing('acme', 'default');
    const v1 = await ks.primaryKey('acme', 'default');
    expect(v1.info).toMatchObject({ version: 1, state: 'primary', alg: 2 });
    expect(v1.key.exposeBytes()).toHaveLength(32);
    const pending = await ks.rotate('acme', 'default');
    expect(pending).toMatchObject({ version: 2, state: 'pending' });
    // pending is for openers only
    expect((await ks.primaryKey('acme', 'default')).info.version).toBe(1);
    const v2 = await ks.keyVersion('acme', 'default', 2);
    expect(v2.info.state).toBe('pending');
    expect(Buffer.from(v2.key.exposeBytes())).not.toEqual(Buffer.from(v1.key.exposeBytes()));
    const promoted = await ks.promote('acme', 'default', 2);
    expect(promoted.previousPrimary).toMatchObject({ version: 1, state: 'decrypt-only' });
    expect((await ks.primaryKey('acme', 'default')).info.version).toBe(2);
    // the same bytes before and after promotion
    expect(Buffer.from((await ks.primaryKey('acme', 'default')).key.exposeBytes())).toEqual(Buffer.from(v2.key.exposeBytes()));
    expect(Buffer.from((await ks.keyVersion('acme', 'default', 1)).key.exposeBytes())).toEqual(Buffer.from(v1.key.exposeBytes()));
    await storage.close();
  });

  it('disabled versions are not handed out; destroyed ones are gone from storage', async () => {
    const { ks, storage, path } = await open();
    await ks.createRing('acme', 'pci', { alg: 2 });
    await ks.rotate('acme', 'pci');
    await ks.promote('acme', 'pci', 2);
    const wrappedBefore = JSON.parse(readFileSync(path, 'utf8')).rings['acme/pci'].record.versions[0].wrapped as string;
    await ks.disable('acme', 'pci', 1);
    await expect(ks.keyVersion('acme', 'pci', 1)).rejects.toThrow(InvalidTransitionError);
    await ks.enable('acme', 'pci', 1);
    expect((await ks.keyVersion('acme', 'pci', 1)).info.state).toBe('decrypt-only');
    await ks.disable('acme', 'pci', 1);
    await ks.destroy('acme', 'pci', 1);
    await expect(ks.keyVersion('acme', 'pci', 1)).rejects.toThrow(/is destroyed/);
    const file = readFileSync(path, 'utf8');
    expect(file).not.toContain(wrappedBefore);
    expect(JSON.parse(file).rings['acme/pci'].record.versions[0]).toMatchObject({ state: 'destroyed', wrapped: null });
    expect((await ks.listVersions('acme', 'pci')).map((v) => v.state)).toEqual(['destroyed', 'primary']);
    expect(await ks.listRings('acme')).toEqual([expect.objectContaining({ ring: 'pci', primaryVersion: 2, alg: 2 })]);
    await storage.close();
  });

  it('new symmetric rings are alg 2 (XChaCha20-Poly1305) unless alg 1 is asked for', async () => {
    const { ks, storage } = await open();
    expect(await ks.createRing('acme', 'default')).toMatchObject({ kind: 'symmetric', alg: 2 });
    expect(await ks.createRing('acme', 'legacy', { alg: 1 })).toMatchObject({ kind: 'symmetric', alg: 1 });
    expect(await ks.createRing('acme', 'hpke', { kind: 'x25519' })).toMatchObject({ kind: 'x25519', alg: 3 });
    // rotation keeps the ring's alg
    expect(await ks.rotate('acme', 'legacy')).toMatchObject({ version: 2, alg: 1 });
    await storage.close();
  });

  it('never stores a key in the clear', async () => {
    const { ks, storage, path } = await open();
    await ks.createRing('acme', 'default');
    const key = Buffer.from((await ks.primaryKey('acme', 'default')).key.exposeBytes());
    const file = readFileSync(path);
    expect(file.includes(key)).toBe(false);
    expect(file.includes(Buffer.from(key.toString('hex')))).toBe(false);
    expect(file.includes(Buffer.from(key.toString('base64')))).toBe(false);
    await storage.close();
  });

  it('validates names and versions', async () => {
    const { ks, storage } = await open();
    await expect(ks.createRing('a/b', 'default')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(ks.createRing('acme', 'x.y')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(ks.createRing('', 'default')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(ks.keyVersion('acme', 'default', 0)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(ks.keyVersion('acme', 'default', 2 ** 32)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(ks.primaryKey('acme', 'nope')).rejects.toBeInstanceOf(NotFoundError);
    await ks.createRing('acme', 'default');
    await expect(ks.keyVersion('acme', 'default', 5)).rejects.toBeInstanceOf(NotFoundError);
    await storage.close();
  });

  it('concurrent admins never lose an update (compare-and-set with retry)', async () => {
    const { ks, storage } = await open();
    await ks.createRing('acme', 'default');
    // 10 promote/rotate races: each rotate either wins or finds a pending version
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => ks.rotate('acme', 'default')));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason instanceof InvalidTransitionError)).toBe(true);
    await storage.close();
  });

  it('retries when another instance wins the race', async () => {
    const { storage } = await open();
    let conflicts = 2;
    const racing: KeyStorage = {
      init: (id) => storage.init(id),
      get: (t, r) => storage.get(t, r),
      create: (r) => storage.create(r),
      list: (t) => storage.list(t),
      getDevices: (t) => storage.getDevices(t),
      createDevices: (r) => storage.createDevices(r),
      updateDevices: (r, rev) => storage.updateDevices(r, rev),
      listDevices: () => storage.listDevices(),
      close: () => storage.close(),
      update: async (r, rev): Promise<StoredRing> => {
        if (conflicts-- > 0) throw new StorageConflictError('lost');
        return storage.update(r, rev);
      },
    };
    const ks = new Keystore({ storage: racing, masterKey: master() });
    await ks.createRing('acme', 'default');
    expect((await ks.rotate('acme', 'default')).version).toBe(2);
    expect(conflicts).toBe(-1);
    await storage.close();
  });
});
