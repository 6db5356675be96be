// Rotation by age and by volume (issue 18 item 3), with an injected clock: the
// scheduler adds a pending version when the primary is due and promotes it
// after the propagation delay, with audit lines and metrics.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecretKey } from '@fle/field-crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryAuditLog } from '../src/audit.js';
import { InvalidArgumentError, NotFoundError } from '../src/errors.js';
import { Keystore } from '../src/keystore.js';
import type { RotationPolicy } from '../src/model.js';
import { masterKeyId } from '../src/master-key.js';
import { KeystoreMetrics } from '../src/metrics.js';
import { RotationScheduler } from '../src/rotation-scheduler.js';
import { FileKeyStorage } from '../src/storage/file.js';

const root = mkdtempSync(join(tmpdir(), 'fle-rot-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const master = new SecretKey(new Uint8Array(32).fill(21));
const MIN = 60_000;
const DAY = 24 * 60 * MIN;

async function setup() {
  const clock = { now: 1_700_000_000_000 };
  const storage = FileKeyStorage.open(join(root, `r${n++}`, 'keystore.json'));
  await storage.init(masterKeyId(master));
  const ks = new Keystore({ storage, masterKey: master, now: () => clock.now });
  const audit = new MemoryAuditLog();
  const metrics = new KeystoreMetrics();
  const scheduler = new RotationScheduler({ keystore: ks, audit, metrics, intervalMs: 1000 });
  return { clock, storage, ks, audit, metrics, scheduler };
}

const states = async (ks: Keystore, tenant: string, ring: string): Promise<string[]> => (await ks.listVersions(tenant, ring)).map((v) => `v${v.version}:${v.state}`);
const counter = async (metrics: KeystoreMetrics, name: string): Promise<string> =>
  (await metrics.registry.metrics()).split('\n').filter((l) => l.startsWith(name)).join('\n');

describe('rotation policy', () => {
  it('by age: a pending version once the primary is due, promoted after the propagation delay', async () => {
    const { clock, storage, ks, audit, metrics, scheduler } = await setup();
    await ks.createRing('acme', 'default');
    await ks.createRing('acme', 'manual'); // no policy: never touched
    const set = await ks.setRotationPolicy('acme', 'default', { rotateAfterMs: 30 * DAY, maxEnvelopes: null, propagationDelayMs: 10 * MIN });
    expect(set.rotation).toEqual({ rotateAfterMs: 30 * DAY, maxEnvelopes: null, propagationDelayMs: 10 * MIN });

    clock.now += 30 * DAY - 1;
    expect(await scheduler.tick()).toEqual({ checked: 1, steps: [], failed: 0 });
    clock.now += 1;
    const rotated = await scheduler.tick();
    expect(rotated.steps).toEqual([expect.objectContaining({ tenant: 'acme', ring: 'default', action: 'rotated', version: 2, reason: 'age' })]);
    expect(await states(ks, 'acme', 'default')).toEqual(['v1:primary', 'v2:pending']);
    expect((await ks.primaryKey('acme', 'default')).info.version).toBe(1); // pending is never sealed with

    clock.now += 10 * MIN - 1;
    expect((await scheduler.tick()).steps).toEqual([]);
    clock.now += 1;
    expect((await scheduler.tick()).steps).toEqual([expect.objectContaining({ action: 'promoted', version: 2, previousPrimary: 1 })]);
    expect(await states(ks, 'acme', 'default')).toEqual(['v1:decrypt-only', 'v2:primary']);
    expect(await states(ks, 'acme', 'manual')).toEqual(['v1:primary']);

    // the next rotation counts from the promotion
    const status = await ks.rotationStatus('acme', 'default');
    expect(status.rotateAt).toBe(clock.now + 30 * DAY);
    expect(status.pending).toBeUndefined();

    expect(audit.entries.map((e) => [e.action, e.identity, e.version, e.outcome])).toEqual([
      ['AutoRotate', null, 2, 'OK'],
      ['AutoPromote', null, 2, 'OK'],
    ]);
    expect(audit.entries[0]!.reason).toMatch(/primary v1 is past rotateAfter/);
    expect(audit.entries[0]!.generation).toBe(3);
    expect(await counter(metrics, 'fle_keystore_rotations_total')).toBe('fle_keystore_rotations_total{reason="age"} 1');
    expect(await counter(metrics, 'fle_keystore_promotions_total')).toBe('fle_keystore_promotions_total 1');
    await storage.close();
  });

  it('by volume: an alg 1 ring rotates once the reported seals reach the budget', async () => {
    const { clock, storage, ks, audit, metrics, scheduler } = await setup();
    await ks.createRing('acme', 'pci', { alg: 1 });
    await ks.setRotationPolicy('acme', 'pci', { rotateAfterMs: 90 * DAY, maxEnvelopes: 1000, propagationDelayMs: 5 * MIN });
    await ks.addSealCounts('acme', 'pci', [{ version: 1, seals: 600 }]);
    await ks.addSealCounts('acme', 'pci', [{ version: 1, seals: 399 }]);
    expect((await scheduler.tick()).steps).toEqual([]);
    await ks.addSealCounts('acme', 'pci', [{ version: 1, seals: 1 }]);
    expect((await ks.rotationStatus('acme', 'pci')).primary.sealCount).toBe(1000);
    expect((await scheduler.tick()).steps).toEqual([expect.objectContaining({ action: 'rotated', version: 2, reason: 'volume', sealCount: 1000 })]);
    expect(audit.entries[0]!.reason).toMatch(/primary v1 has 1000 reported seals, at or past maxEnvelopes/);
    clock.now += 5 * MIN;
    await scheduler.tick();
    expect(await states(ks, 'acme', 'pci')).toEqual(['v1:decrypt-only', 'v2:primary']);
    // the new primary's budget starts from zero
    expect((await ks.rotationStatus('acme', 'pci')).primary).toMatchObject({ version: 2, sealCount: 0 });
    expect((await scheduler.tick()).steps).toEqual([]);
    expect(await counter(metrics, 'fle_keystore_rotations_total')).toBe('fle_keystore_rotations_total{reason="volume"} 1');
    await storage.close();
  });

  it('a pending version an admin added is promoted after the delay too; a disabled one is replaced', async () => {
    const { clock, storage, ks, scheduler } = await setup();
    await ks.createRing('acme', 'default');
    await ks.setRotationPolicy('acme', 'default', { rotateAfterMs: DAY, maxEnvelopes: null, propagationDelayMs: MIN });
    await ks.rotate('acme', 'default');
    clock.now += MIN;
    expect((await scheduler.tick()).steps).toEqual([expect.objectContaining({ action: 'promoted', version: 2 })]);
    await ks.rotate('acme', 'default');
    await ks.disable('acme', 'default', 3);
    clock.now += DAY;
    expect((await scheduler.tick()).steps).toEqual([expect.objectContaining({ action: 'rotated', version: 4 })]);
    await storage.close();
  });

  it('several instances applying the policy at once add one version', async () => {
    const { clock, storage, ks } = await setup();
    await ks.createRing('acme', 'default');
    await ks.setRotationPolicy('acme', 'default', { rotateAfterMs: DAY, maxEnvelopes: null, propagationDelayMs: MIN });
    clock.now += DAY;
    const others = [0, 1, 2].map(() => new Keystore({ storage, masterKey: master, now: () => clock.now }));
    const steps = await Promise.all([ks, ...others].map((k) => k.applyRotationPolicy('acme', 'default')));
    expect(steps.filter((s) => s.action === 'rotated')).toHaveLength(1);
    expect(await states(ks, 'acme', 'default')).toEqual(['v1:primary', 'v2:pending']);
    await storage.close();
  });

  it('refuses policies that make no sense, naming the field', async () => {
    const { storage, ks } = await setup();
    await ks.createRing('acme', 'x2');
    await ks.createRing('acme', 'x1', { alg: 1 });
    await ks.createRing('acme', 'hpke', { kind: 'x25519' });
    const ok = { rotateAfterMs: DAY, maxEnvelopes: null, propagationDelayMs: MIN };
    await expect(ks.setRotationPolicy('acme', 'x2', { ...ok, maxEnvelopes: 10 })).rejects.toThrow(/envelope budget applies to alg 1 rings only \(this ring is alg 2: 192-bit nonces need none\)/);
    await expect(ks.setRotationPolicy('acme', 'hpke', { ...ok, maxEnvelopes: 10 })).rejects.toThrow(InvalidArgumentError);
    await expect(ks.setRotationPolicy('acme', 'x1', { ...ok, rotateAfterMs: 10 })).rejects.toThrow(/rotateAfter must be/);
    await expect(ks.setRotationPolicy('acme', 'x1', { ...ok, propagationDelayMs: DAY })).rejects.toThrow(/propagationDelay must be shorter than rotateAfter/);
    await expect(ks.setRotationPolicy('acme', 'x1', { ...ok, maxEnvelopes: 0 })).rejects.toThrow(/maxEnvelopes must be a positive integer/);
    expect((await ks.setRotationPolicy('acme', 'x1', { ...ok, maxEnvelopes: 10 })).rotation).toMatchObject({ maxEnvelopes: 10 });
    // whatever else the caller's object holds stays out of the record (which refuses fields its tag does not cover)
    await ks.setRotationPolicy('acme', 'x1', { ...ok, surprise: true } as RotationPolicy);
    expect((await ks.rotationStatus('acme', 'x1')).policy).toEqual(ok);
    expect((await ks.setRotationPolicy('acme', 'x1', null)).rotation).toBeNull();
    await expect(ks.setRotationPolicy('acme', 'nope', ok)).rejects.toBeInstanceOf(NotFoundError);
    await storage.close();
  });

  it('seal count reports: unknown versions, too many entries and negative counts are refused; zeros write nothing', async () => {
    const { storage, ks } = await setup();
    await ks.createRing('acme', 'default', { alg: 1 });
    await expect(ks.addSealCounts('acme', 'default', [{ version: 2, seals: 1 }])).rejects.toBeInstanceOf(NotFoundError);
    await expect(ks.addSealCounts('acme', 'default', Array.from({ length: 17 }, () => ({ version: 1, seals: 1 })))).rejects.toThrow(/at most 16 versions/);
    await expect(ks.addSealCounts('acme', 'default', [{ version: 1, seals: -1 }])).rejects.toBeInstanceOf(InvalidArgumentError);
    const g = (await ks.addSealCounts('acme', 'default', [{ version: 1, seals: 0 }])).generation;
    expect(g).toBe(1);
    expect((await ks.addSealCounts('acme', 'default', [{ version: 1, seals: 5 }, { version: 1, seals: 2 }])).generation).toBe(2);
    expect((await ks.rotationStatus('acme', 'default')).primary.sealCount).toBe(7);
    await storage.close();
  });
});
