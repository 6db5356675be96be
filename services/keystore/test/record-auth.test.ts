// Authenticated key ring records (issue 18 item 4) without a network: the tag
// covers the whole record, generations never go back, the migration of stores
// written before tags, restores, and no false alarm under concurrent writes.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecretKey } from '@fle/field-crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { RecordIntegrityError, RecordRollbackError, UnsealedRecordsError } from '../src/errors.js';
import { Keystore, type RefusedRecord } from '../src/keystore.js';
import { masterKeyId } from '../src/master-key.js';
import type { KeyRingRecord } from '../src/model.js';
import { FileAuditLog, auditKeyFromMaster, verifyAuditFile } from '../src/audit.js';
import { anchorFromAudit } from '../src/keystore-state.js';
import { GenerationAnchor, RecordAuthenticator } from '../src/record-auth.js';
import * as sm from '../src/state-machine.js';
import { FileKeyStorage } from '../src/storage/file.js';

const root = mkdtempSync(join(tmpdir(), 'fle-rauth-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const master = new SecretKey(new Uint8Array(32).fill(11));

async function open(path = join(root, `k${n++}`, 'keystore.json'), anchor?: GenerationAnchor) {
  const storage = FileKeyStorage.open(path);
  await storage.init(masterKeyId(master));
  const refused: RefusedRecord[] = [];
  const ks = new Keystore({ storage, masterKey: master, ...(anchor ? { anchor } : {}), onRecordRefused: (r) => refused.push(r) });
  return { ks, storage, path, refused };
}

function editStore(path: string, edit: (rings: Record<string, { record: KeyRingRecord; mac?: string; revision: number }>) => void): void {
  const doc = JSON.parse(readFileSync(path, 'utf8')) as { rings: Record<string, { record: KeyRingRecord; mac?: string; revision: number }> };
  edit(doc.rings);
  writeFileSync(path, JSON.stringify(doc));
}

describe('the record tag', () => {
  const auth = new RecordAuthenticator(master);
  const record: KeyRingRecord = {
    ...sm.newRing({ tenant: 'acme', ring: 'default', kind: 'symmetric', alg: 1 }, 1000, (v) => Buffer.alloc(60, v).toString('base64')),
    rotation: { rotateAfterMs: 60_000, maxEnvelopes: 1000, propagationDelayMs: 5000 },
  };
  const withV2 = sm.rotate(record, 2000, (v) => Buffer.alloc(60, v).toString('base64')).ring;
  const seal = auth.seal(withV2, 4);

  it('authenticates the record it was made for, at a later revision', () => {
    expect(() => auth.verify(withV2, seal, 5)).not.toThrow();
    expect(() => auth.verify(structuredClone(withV2), seal, 99)).not.toThrow();
  });

  it('any change to any field, or to the revision it was written over, fails', () => {
    const edits: Array<[string, (r: KeyRingRecord) => void]> = [
      ['state', (r) => (r.versions[1]!.state = 'primary')],
      ['wrapped', (r) => (r.versions[0]!.wrapped = Buffer.alloc(60, 9).toString('base64'))],
      ['destroyed', (r) => (r.versions[0]!.wrapped = null)],
      ['generation', (r) => (r.generation = 7)],
      ['sealCount', (r) => (r.versions[0]!.sealCount = 1)],
      ['rotation', (r) => (r.rotation!.maxEnvelopes = 10 ** 9)],
      ['rotation removed', (r) => delete r.rotation],
      ['createdAt', (r) => (r.versions[1]!.createdAt = 1)],
      ['stateChangedAt', (r) => (r.versions[1]!.stateChangedAt = 1)],
      ['alg', (r) => (r.alg = 2)],
      ['ring', (r) => (r.ring = 'pci')],
      ['version dropped', (r) => r.versions.pop()],
    ];
    for (const [what, edit] of edits) {
      const r = structuredClone(withV2);
      edit(r);
      expect(() => auth.verify(r, seal, 5), what).toThrow(RecordIntegrityError);
    }
    expect(() => auth.verify(withV2, { ...seal, prevRevision: 3 }, 5)).toThrow(/changed outside the keystore/);
    expect(() => auth.verify(withV2, undefined, 5)).toThrow(/carries no authentication tag/);
    // written over revision 4, read at revision 4 or below: not where the keystore wrote it
    expect(() => auth.verify(withV2, seal, 4)).toThrow(/moved or restored outside the keystore/);
    // another master key
    expect(() => new RecordAuthenticator(new SecretKey(new Uint8Array(32).fill(12))).verify(withV2, seal, 5)).toThrow(RecordIntegrityError);
  });
});

describe('Keystore over authenticated records', () => {
  it('counts generations, and refuses an edited record with a report', async () => {
    const { ks, storage, path, refused } = await open();
    expect((await ks.createRing('acme', 'default')).generation).toBe(1);
    await ks.rotate('acme', 'default');
    expect((await ks.promote('acme', 'default', 2)).version.generation).toBe(3);
    await storage.close();
    editStore(path, (rings) => {
      rings['acme/default']!.record.versions[0]!.state = 'primary';
      rings['acme/default']!.record.versions[1]!.state = 'decrypt-only';
    });
    const again = await open(path);
    await expect(again.ks.primaryKey('acme', 'default')).rejects.toBeInstanceOf(RecordIntegrityError);
    await expect(again.ks.rotate('acme', 'default')).rejects.toBeInstanceOf(RecordIntegrityError);
    expect(await again.ks.listRings()).toEqual([]); // left out of listings
    expect(again.refused.map((r) => r.error.code)).toEqual(['RECORD_INTEGRITY', 'RECORD_INTEGRITY', 'RECORD_INTEGRITY']);
    expect(refused).toEqual([]);
    const check = await again.ks.checkRecords();
    expect(check).toMatchObject({ rings: 1, unsealed: 0, refused: [{ tenant: 'acme', ring: 'default', reason: expect.stringMatching(/changed outside the keystore/) }] });
    await again.storage.close();
  });

  it('refuses an older copy of a record, and a record removed, once a later generation was seen', async () => {
    const { ks, storage, path } = await open();
    await ks.createRing('acme', 'default');
    await ks.rotate('acme', 'default');
    await ks.promote('acme', 'default', 2);
    const old = readFileSync(path, 'utf8');
    await ks.disable('acme', 'default', 1);
    await ks.destroy('acme', 'default', 1);
    const anchor = ks.anchor;
    expect(anchor.get('acme', 'default')).toBe(5);
    await storage.close();
    writeFileSync(path, old);
    const again = await open(path, anchor);
    await expect(again.ks.keyVersion('acme', 'default', 1)).rejects.toThrow(RecordRollbackError);
    await expect(again.ks.keyVersion('acme', 'default', 1)).rejects.toThrow(/generation 3, behind generation 5 seen before/);
    await again.storage.close();
    editStore(path, (rings) => delete rings['acme/default']);
    const gone = await open(path, anchor);
    await expect(gone.ks.primaryKey('acme', 'default')).rejects.toThrow(/is missing from storage, but generation 5 of it was seen/);
    expect((await gone.ks.checkRecords()).refused).toEqual([expect.objectContaining({ tenant: 'acme', ring: 'default' })]);
    // created again by an admin: ahead of the anchor, so it is not mistaken for an old copy
    expect((await gone.ks.createRing('acme', 'default')).generation).toBe(6);
    expect((await gone.ks.primaryKey('acme', 'default')).info.version).toBe(1);
    await gone.storage.close();
  });

  it('never mistakes a read racing a write for an older copy', async () => {
    const { ks, storage, refused } = await open();
    await ks.createRing('acme', 'default');
    const reads: Array<Promise<unknown>> = [];
    for (let round = 2; round <= 6; round++) {
      for (let i = 0; i < 20; i++) reads.push(ks.primaryKey('acme', 'default'), ks.listVersions('acme', 'default'));
      await ks.rotate('acme', 'default');
      for (let i = 0; i < 20; i++) reads.push(ks.keyVersion('acme', 'default', round));
      await ks.promote('acme', 'default', round);
    }
    const results = await Promise.allSettled(reads);
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(refused).toEqual([]);
    await storage.close();
  });

  it('a store written before tags: refused at start, sealed once by seal-records, then served', async () => {
    const { ks, storage, path } = await open();
    await ks.createRing('acme', 'default');
    await ks.createRing('acme', 'pci');
    const key = Buffer.from((await ks.primaryKey('acme', 'pci')).key.exposeBytes());
    await storage.close();
    // what an older keystore wrote: no tag, no generation
    editStore(path, (rings) => {
      for (const r of Object.values(rings)) {
        delete r.mac;
        delete (r as { prevRevision?: number }).prevRevision;
        delete (r.record as Partial<KeyRingRecord>).generation;
      }
    });
    const legacy = await open(path);
    await expect(legacy.ks.checkRecords()).rejects.toBeInstanceOf(UnsealedRecordsError);
    await expect(legacy.ks.checkRecords()).rejects.toThrow(/2 key ring record\(s\) written before records were authenticated: .*fle keystore seal-records/);
    await expect(legacy.ks.primaryKey('acme', 'pci')).rejects.toThrow(/carries no authentication tag/);
    expect((await legacy.ks.sealUnsealedRecords()).map((r) => [r.ring, r.generation])).toEqual([['default', 1], ['pci', 1]]);
    expect(await legacy.ks.checkRecords()).toEqual({ rings: 2, refused: [], unsealed: 0 });
    expect(Buffer.from((await legacy.ks.primaryKey('acme', 'pci')).key.exposeBytes())).toEqual(key);
    await legacy.storage.close();
  });

  it('seal-records refuses a store some of whose records carry tags, or whose audit log saw tags (stripped tags)', async () => {
    const { ks, storage, path } = await open();
    await ks.createRing('acme', 'default');
    await ks.createRing('acme', 'pci');
    await storage.close();
    editStore(path, (rings) => delete rings['acme/pci']!.mac);
    const mixed = await open(path);
    expect((await mixed.ks.checkRecords()).refused).toEqual([expect.objectContaining({ ring: 'pci', reason: expect.stringMatching(/no authentication tag/) })]);
    await expect(mixed.ks.sealUnsealedRecords()).rejects.toThrow(/1 of the store's 2 record\(s\) are authenticated already/);
    await mixed.storage.close();
    editStore(path, (rings) => delete rings['acme/default']!.mac);
    const anchor = new GenerationAnchor();
    anchor.note('acme', 'default', 1); // what the audit log of a keystore that tagged records holds
    const stripped = await open(path, anchor);
    await expect(stripped.ks.sealUnsealedRecords()).rejects.toThrow(/audit log shows authenticated records/);
    await stripped.storage.close();
  });

  it('a restored record is put past every anchor, so every instance accepts it', async () => {
    const now = 1_700_000_000_000;
    const storage = FileKeyStorage.open(join(root, `k${n++}`, 'keystore.json'));
    await storage.init(masterKeyId(master));
    const anchor = new GenerationAnchor();
    const ks = new Keystore({ storage, masterKey: master, anchor, now: () => now });
    await ks.createRing('acme', 'default');
    const [record] = await ks.exportRecords();
    await ks.rotate('acme', 'default');
    const restored = await ks.restoreRecord(record!, { force: true });
    expect(restored.generation).toBe(now + 1);
    const other = new GenerationAnchor();
    other.note('acme', 'default', 1_000_000); // another instance saw many more writes
    expect((await new Keystore({ storage, masterKey: master, anchor: other }).primaryKey('acme', 'default')).info.generation).toBe(now + 1);
    await expect(ks.restoreRecord(record!)).rejects.toThrow(/pass --force/);
    await storage.close();
  });
});

describe('the anchor from the audit log', () => {
  it('takes the highest generation each ring\'s lines carry (without a checkpoint: every line)', async () => {
    const path = join(root, `audit${n++}`, 'audit.jsonl');
    const macKey = auditKeyFromMaster(master);
    const log = await FileAuditLog.open(path, { macKey });
    const line = (ring: string, generation: number | null, outcome = 'OK') =>
      log.record({ identity: 'spiffe://fle.local/processor', action: 'GetPrimaryKey', tenant: 'acme', ring, version: 1, generation, allowed: true, reason: 'fetch[0]', outcome });
    line('default', 3);
    line('default', 9);
    line('default', 4);
    line('pci', null, 'DATA_LOSS'); // a refusal names no generation
    line('pci', 2);
    log.close();
    const anchor = new GenerationAnchor();
    expect((await verifyAuditFile(path, { macKey, onLine: anchorFromAudit(anchor) })).break).toBeUndefined();
    expect(anchor.export()).toEqual({ 'acme/default': 9, 'acme/pci': 2 });
  });
});

