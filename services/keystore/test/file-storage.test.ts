import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AlreadyExistsError, MasterKeyError, StorageConflictError, StorageError } from '../src/errors.js';
import * as sm from '../src/state-machine.js';
import type { KeyRingRecord } from '../src/model.js';
import { FileKeyStorage, readStoreFile } from '../src/storage/file.js';
import type { SealedRing } from '../src/storage/types.js';

const root = mkdtempSync(join(tmpdir(), 'fle-fs-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(root, `s${n++}`, 'keystore.json');
const ring = (tenant: string, name = 'default') => sm.newRing({ tenant, ring: name, kind: 'symmetric', alg: 1 }, 1, (v) => Buffer.alloc(60, v).toString('base64'));
// Storage keeps the tag beside the record and never checks it (the Keystore does): any value serves here.
const sealed = (record: KeyRingRecord, prevRevision = 0): SealedRing => ({ record, seal: { mac: 'dGFn', prevRevision } });

describe('file storage', () => {
  it('persists creates and updates; a reopened store sees them', async () => {
    const path = fresh();
    const s = FileKeyStorage.open(path);
    await s.init('00112233aabbccdd');
    const created = await s.create(sealed(ring('acme')));
    const rotated = sm.rotate(created.record, 2, (v) => Buffer.alloc(60, v).toString('base64')).ring;
    await s.update(sealed(rotated, created.revision), created.revision);
    await s.create(sealed(ring('globex', 'pci')));
    await s.close();
    const again = FileKeyStorage.open(path);
    await again.init('00112233aabbccdd');
    expect((await again.get('acme', 'default'))!.record.versions).toHaveLength(2);
    expect((await again.list()).map((r) => `${r.record.tenant}/${r.record.ring}`)).toEqual(['acme/default', 'globex/pci']);
    expect((await again.list('globex')).map((r) => r.record.ring)).toEqual(['pci']);
    expect((await again.get('acme', 'default'))!.seal).toEqual({ mac: 'dGFn', prevRevision: 1 });
    await again.close();
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('compare-and-set refuses a stale revision and a duplicate create', async () => {
    const s = FileKeyStorage.open(fresh());
    const a = await s.create(sealed(ring('acme')));
    await expect(s.create(sealed(ring('acme')))).rejects.toBeInstanceOf(AlreadyExistsError);
    await s.update(sealed(a.record, a.revision), a.revision);
    await expect(s.update(sealed(a.record, a.revision), a.revision)).rejects.toBeInstanceOf(StorageConflictError);
    // a tag bound to another revision than the one written over is a caller bug
    await expect(s.update(sealed(a.record, 7), a.revision + 1)).rejects.toThrow(/tag bound to revision 7/);
    await s.close();
  });

  it('serialises concurrent writers: every acknowledged create is in the file', async () => {
    const path = fresh();
    const s = FileKeyStorage.open(path);
    await Promise.all(Array.from({ length: 20 }, (_, i) => s.create(sealed(ring(`t${i}`)))));
    await s.close();
    expect(Object.keys(readStoreFile(path).rings)).toHaveLength(20);
    expect(readdirSync(join(path, '..')).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('binds the store to one master key id', async () => {
    const path = fresh();
    const s = FileKeyStorage.open(path);
    await s.init('1111111111111111');
    await s.close();
    const t = FileKeyStorage.open(path);
    await expect(t.init('2222222222222222')).rejects.toBeInstanceOf(MasterKeyError);
    await t.close();
  });

  it('one process owns a store; a lock left by a dead process is taken over', async () => {
    const path = fresh();
    const s = FileKeyStorage.open(path);
    expect(() => FileKeyStorage.open(path)).toThrow(/already open in this process/);
    await s.close();
    writeFileSync(`${path}.lock`, '999999999\n'); // no such pid
    const t = FileKeyStorage.open(path);
    await t.close();
    writeFileSync(`${path}.lock`, `${process.ppid}\n`); // alive, not us
    expect(() => FileKeyStorage.open(path)).toThrow(/in use by process/);
    rmSync(`${path}.lock`);
  });

  it('read-only snapshots work beside the owner and refuse writes', async () => {
    const path = fresh();
    const s = FileKeyStorage.open(path);
    await s.init('1111111111111111');
    await s.create(sealed(ring('acme')));
    const ro = FileKeyStorage.openReadOnly(path);
    expect(await ro.list()).toHaveLength(1);
    await expect(ro.create(sealed(ring('x')))).rejects.toThrow(/read-only/);
    await ro.close();
    await s.close();
  });

  it('removes temp files left by a crash and refuses a store that does not parse', async () => {
    const path = fresh();
    const s = FileKeyStorage.open(path);
    await s.create(sealed(ring('acme')));
    await s.close();
    writeFileSync(`${path}.tmp-123-abc`, '{"half');
    const t = FileKeyStorage.open(path);
    expect(readdirSync(join(path, '..')).filter((f) => f.includes('.tmp-'))).toEqual([]);
    await t.close();
    writeFileSync(path, readFileSync(path, 'utf8').slice(0, 30));
    expect(() => FileKeyStorage.open(path)).toThrow(StorageError);
    expect(() => FileKeyStorage.open(path)).toThrow(/not valid JSON/);
  });
});
