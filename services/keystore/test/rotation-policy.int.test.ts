// Rotation by age and by volume in the real keystore process over mTLS: the
// processor's KeystoreKeyProvider counts the primaries it hands out to seal
// with and reports them; the keystore's scheduler rotates and promotes, audits
// it, and counts it on GET /metrics. A reporter may only report for rings it
// may fetch.
import type { KeyVersionMaterial } from '@fle/field-crypto';
import { KeystoreAdminClient, KeystoreKeyProvider, SealCounter, SealReporter, keystoreCredentials } from '@fle/keystore-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeystoreTestEnv, startKeystoreProcess, type KeystoreProcess, type KeystoreTestEnv } from '../src/testing.js';

let env: KeystoreTestEnv;
let ks: KeystoreProcess;
let admin: KeystoreAdminClient;
const closers: Array<{ close(): void }> = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const POLICY = {
  deny: ['spiffe://fle.local/gateway'],
  fetch: [
    { identity: 'spiffe://fle.local/processor', tenants: ['*'] },
    { identity: 'spiffe://fle.local/client', tenants: ['acme'], rings: ['default'] },
  ],
  admin: [{ identity: 'spiffe://fle.local/admin', tenants: ['*'] }],
};

async function until<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: last ${JSON.stringify(v)}`);
    await sleep(100);
  }
}

const states = async (tenant: string, ring: string): Promise<string> => (await admin.listVersions(tenant, ring)).map((v) => `v${v.version}:${v.state}`).join(' ');

beforeAll(async () => {
  env = await createKeystoreTestEnv({ policy: POLICY, rotationCheckMs: 200, metrics: true });
  ks = await startKeystoreProcess(env);
  admin = new KeystoreAdminClient({ address: ks.address, tls: env.pki.files('admin') });
  closers.push(admin);
});

afterAll(async () => {
  for (const c of closers) c.close();
  await ks?.stop();
  env?.cleanup();
});

describe('rotation policy in the keystore process', () => {
  it('by volume: reported seals of an alg 1 primary reach the budget, the keystore rotates and promotes', async () => {
    await admin.createKeyRing('acme', 'pci', { alg: 1 });
    expect(await admin.setRotationPolicy('acme', 'pci', { rotateAfterMs: 3_600_000, maxEnvelopes: 50, propagationDelayMs: 300 })).toEqual({
      rotateAfterMs: 3_600_000,
      maxEnvelopes: 50,
      propagationDelayMs: 300,
    });
    const keys = new KeystoreKeyProvider({ address: ks.address, tls: env.pki.files('processor'), sealReports: { intervalMs: 3_600_000 } });
    closers.push(keys);
    const ref = { tenant: 'acme', ring: 'pci' };
    expect((await keys.primaryKey(ref)).version).toBe(1); // fetched: counted once
    for (let i = 0; i < 29; i++) expect(keys.cachedPrimaryKey(ref)?.version).toBe(1); // the cipher's fast path: counted
    await keys.flushSealCounts();
    expect((await admin.getRotationPolicy('acme', 'pci')).primary.sealCount).toBe(30);
    await sleep(600); // several checks: 30 < 50, nothing happens
    expect(await states('acme', 'pci')).toBe('v1:primary');

    for (let i = 0; i < 20; i++) await keys.primaryKey(ref);
    await keys.flushSealCounts();
    expect(keys.sealReportStats()).toEqual({ reported: 50, retried: 0, dropped: 0 });
    await until('v2 primary', () => states('acme', 'pci'), (s) => s === 'v1:decrypt-only v2:primary');

    const audit = (await env.readAudit()).filter((e) => e.tenant === 'acme' && e.ring === 'pci');
    const auto = audit.filter((e) => e.action.startsWith('Auto'));
    expect(auto.map((e) => [e.action, e.identity, e.version])).toEqual([
      ['AutoRotate', null, 2],
      ['AutoPromote', null, 2],
    ]);
    expect(auto[0]!.reason).toMatch(/primary v1 has 50 reported seals/);
    expect(audit.filter((e) => e.action === 'ReportSealCounts').every((e) => e.identity === 'spiffe://fle.local/processor' && e.outcome === 'OK')).toBe(true);
    const metrics = await (await fetch(`http://127.0.0.1:${ks.metricsPort}/metrics`)).text();
    expect(metrics).toContain('fle_keystore_rotations_total{reason="volume"} 1');
    expect(metrics).toContain('fle_keystore_promotions_total 1');
  });

  it('by age: the primary is replaced once it has been primary for rotateAfter', async () => {
    await admin.createKeyRing('acme', 'default');
    await admin.setRotationPolicy('acme', 'default', { rotateAfterMs: 1500, maxEnvelopes: null, propagationDelayMs: 400 });
    const shown = await admin.getRotationPolicy('acme', 'default');
    expect(shown.policy).toEqual({ rotateAfterMs: 1500, maxEnvelopes: null, propagationDelayMs: 400 });
    expect(Date.parse(shown.rotateAt!) - Date.parse(shown.primary.stateChangedAt)).toBe(1500);
    await until('v2 primary', () => states('acme', 'default'), (s) => s.startsWith('v1:decrypt-only v2:primary'));
    const metrics = await (await fetch(`http://127.0.0.1:${ks.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/fle_keystore_rotations_total\{reason="age"\} [1-9]/);
    // a policy on an alg 2 ring takes no envelope budget
    await expect(admin.setRotationPolicy('acme', 'default', { rotateAfterMs: 1500, maxEnvelopes: 10, propagationDelayMs: 400 })).rejects.toThrow(
      /INVALID_ARGUMENT: rotation policy: an envelope budget applies to alg 1 rings only/,
    );
    await admin.setRotationPolicy('acme', 'default', null);
  });

  it('a reporter may report only for rings it may fetch', async () => {
    const counter = new SealCounter();
    const material = (version: number): KeyVersionMaterial => ({ version }) as KeyVersionMaterial;
    counter.count({ tenant: 'acme', ring: 'pci' }, material(2), 7); // the client may not fetch acme/pci
    counter.count({ tenant: 'acme', ring: 'default' }, material(1), 3); // it may fetch acme/default
    const errors: string[] = [];
    const reporter = new SealReporter(counter, {
      address: ks.address,
      credentials: keystoreCredentials({ tls: env.pki.files('client') }),
      onError: (e) => errors.push(e.message),
    });
    closers.push(reporter);
    const before = (await admin.getRotationPolicy('acme', 'pci')).primary.sealCount;
    await reporter.flush();
    expect(reporter.stats()).toEqual({ reported: 3, retried: 0, dropped: 7 });
    expect(errors).toEqual([expect.stringMatching(/^seal count report for acme\/pci failed: PERMISSION_DENIED: spiffe:\/\/fle.local\/client may not fetch keys of tenant acme ring pci/)]);
    expect((await admin.getRotationPolicy('acme', 'pci')).primary.sealCount).toBe(before);
    const denied = (await env.readAudit()).filter((e) => e.action === 'ReportSealCounts' && e.identity === 'spiffe://fle.local/client');
    expect(denied.map((e) => [e.ring, e.outcome])).toEqual([
      ['pci', 'PERMISSION_DENIED'],
      ['default', 'OK'],
    ]);
  });
});
