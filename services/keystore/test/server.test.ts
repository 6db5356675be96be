// The gRPC handlers without a network: identity, policy, audit and error mapping.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status, type ServerUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { SecretKey } from '@fle/field-crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryAuditLog, type AuditSink } from '../src/audit.js';
import { Keystore } from '../src/keystore.js';
import { masterKeyId } from '../src/master-key.js';
import { Policy } from '../src/policy.js';
import { keystoreAdminServiceImpl, keystoreServiceImpl } from '../src/server.js';
import { FileKeyStorage } from '../src/storage/file.js';

const dir = mkdtempSync(join(tmpdir(), 'fle-srv-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const master = new SecretKey(new Uint8Array(32).fill(3));
const storage = FileKeyStorage.open(join(dir, 'keystore.json'));
await storage.init(masterKeyId(master));
const keystore = new Keystore({ storage, masterKey: master });
await keystore.createRing('acme', 'default');
const policy = Policy.fromYaml(`
deny: [spiffe://fle.local/gateway]
fetch: [{ identity: spiffe://fle.local/processor, tenants: ["*"] }]
admin: [{ identity: spiffe://fle.local/admin, tenants: [acme] }]
`);

function call<Req>(request: Req, san: string | undefined): ServerUnaryCall<Req, unknown> {
  return {
    request,
    getAuthContext: () => ({ transportSecurityType: 'ssl', sslPeerCertificate: san === undefined ? undefined : { subjectaltname: san } }),
  } as unknown as ServerUnaryCall<Req, unknown>;
}

function invoke<Req, Res>(handler: unknown, request: Req, san: string | undefined): Promise<{ err: Partial<ServiceError> | null; res?: Res }> {
  return new Promise((resolve) => {
    (handler as (c: unknown, cb: (e: Partial<ServiceError> | null, r?: Res) => void) => void)(call(request, san), (err, res) => resolve({ err, res }));
  });
}

const errors: unknown[] = [];
const make = (audit: AuditSink) => {
  const opts = { keystore, policy: () => policy, audit, onError: (e: unknown) => errors.push(e) };
  return { svc: keystoreServiceImpl(opts), admin: keystoreAdminServiceImpl(opts) };
};

describe('keystore gRPC handlers', () => {
  it('hands the primary to an allowed identity and audits the version, without key bytes', async () => {
    const audit = new MemoryAuditLog();
    const { svc } = make(audit);
    const { err, res } = await invoke<unknown, { key: { symmetricKey: Buffer; info: { version: number } } }>(
      svc.getPrimaryKey,
      { tenant: 'acme', ring: 'default' },
      'URI:spiffe://fle.local/processor',
    );
    expect(err).toBeNull();
    expect(res!.key.symmetricKey).toHaveLength(32);
    expect(audit.entries).toEqual([
      expect.objectContaining({ identity: 'spiffe://fle.local/processor', action: 'GetPrimaryKey', tenant: 'acme', ring: 'default', version: 1, allowed: true, outcome: 'OK' }),
    ]);
    const line = JSON.stringify(audit.entries);
    expect(line).not.toContain(res!.key.symmetricKey.toString('base64'));
    expect(line).not.toContain(res!.key.symmetricKey.toString('hex'));
  });

  it('a certificate without a SPIFFE URI SAN is UNAUTHENTICATED', async () => {
    const audit = new MemoryAuditLog();
    const { svc } = make(audit);
    for (const san of [undefined, 'DNS:localhost', 'URI:https://example.com/x', 'URI:spiffe://fle.local/a, URI:spiffe://fle.local/b']) {
      const { err } = await invoke(svc.getPrimaryKey, { tenant: 'acme', ring: 'default' }, san);
      expect(err?.code).toBe(status.UNAUTHENTICATED);
    }
    expect(audit.entries.every((e) => e.allowed === false && e.outcome === 'UNAUTHENTICATED')).toBe(true);
  });

  it('the gateway is denied before anything is looked up (no existence oracle)', async () => {
    const audit = new MemoryAuditLog();
    const { svc } = make(audit);
    for (const req of [{ tenant: 'acme', ring: 'default' }, { tenant: 'nope', ring: 'nope' }]) {
      const { err } = await invoke(svc.getPrimaryKey, req, 'URI:spiffe://fle.local/gateway');
      expect(err?.code).toBe(status.PERMISSION_DENIED);
      expect(err?.details).toContain('may not fetch keys of tenant');
    }
    expect(audit.entries.map((e) => e.reason)).toEqual(['identity is denied by policy', 'identity is denied by policy']);
  });

  it('maps errors to statuses: invalid names, missing versions, invalid transitions', async () => {
    const audit = new MemoryAuditLog();
    const { svc, admin } = make(audit);
    const p = 'URI:spiffe://fle.local/processor';
    const a = 'URI:spiffe://fle.local/admin';
    expect((await invoke(svc.getKeyVersion, { tenant: 'acme', ring: 'default', version: 0 }, p)).err?.code).toBe(status.INVALID_ARGUMENT);
    expect((await invoke(svc.getKeyVersion, { tenant: 'acme', ring: 'default', version: 9 }, p)).err?.code).toBe(status.NOT_FOUND);
    expect((await invoke(svc.getPrimaryKey, { tenant: 'a.b', ring: 'default' }, p)).err?.code).toBe(status.INVALID_ARGUMENT);
    const dup = await invoke(admin.createKeyRing, { tenant: 'acme', ring: 'default', kind: 0, alg: 0 }, a);
    expect(dup.err?.code).toBe(status.ALREADY_EXISTS);
    const bad = await invoke(admin.destroyKeyVersion, { tenant: 'acme', ring: 'default', version: 1 }, a);
    expect(bad.err?.code).toBe(status.FAILED_PRECONDITION);
    expect(bad.err?.details).toMatch(/version 1 is primary: disable it before destroying it/);
    expect((await invoke(admin.createKeyRing, { tenant: 'acme', ring: 'x', kind: 7, alg: 0 }, a)).err?.code).toBe(status.INVALID_ARGUMENT);
    // admin of acme only
    expect((await invoke(admin.createKeyRing, { tenant: 'globex', ring: 'x', kind: 0, alg: 0 }, a)).err?.code).toBe(status.PERMISSION_DENIED);
    // a fetcher is not an admin
    expect((await invoke(admin.listKeyVersions, { tenant: 'acme', ring: 'default' }, p)).err?.code).toBe(status.PERMISSION_DENIED);
  });

  it('lists only rings the caller administers when no tenant is named', async () => {
    await keystore.createRing('globex', 'default');
    const { admin } = make(new MemoryAuditLog());
    const { res } = await invoke<unknown, { rings: Array<{ tenant: string }> }>(admin.listKeyRings, { tenant: '' }, 'URI:spiffe://fle.local/admin');
    expect(res!.rings.map((r) => r.tenant)).toEqual(['acme']);
  });

  it('seal count reports: only for rings the caller may fetch; added to the totals and audited with the generation', async () => {
    const audit = new MemoryAuditLog();
    const { svc, admin } = make(audit);
    const p = 'URI:spiffe://fle.local/processor';
    const report = { tenant: 'acme', ring: 'default', counts: [{ version: 1, seals: 42 }] };
    expect((await invoke(svc.reportSealCounts, report, p)).err).toBeNull();
    expect((await invoke(svc.reportSealCounts, report, 'URI:spiffe://fle.local/gateway')).err?.code).toBe(status.PERMISSION_DENIED);
    // an admin is not a fetcher: it may not report
    expect((await invoke(svc.reportSealCounts, report, 'URI:spiffe://fle.local/admin')).err?.code).toBe(status.PERMISSION_DENIED);
    expect((await invoke(svc.reportSealCounts, { ...report, counts: [{ version: 9, seals: 1 }] }, p)).err?.code).toBe(status.NOT_FOUND);
    const { res } = await invoke<unknown, { primary: { sealCount: number } }>(admin.getRotationPolicy, { tenant: 'acme', ring: 'default' }, 'URI:spiffe://fle.local/admin');
    expect(res!.primary.sealCount).toBe(42);
    expect(audit.entries.map((e) => [e.identity, e.action, e.outcome])).toEqual([
      ['spiffe://fle.local/processor', 'ReportSealCounts', 'OK'],
      ['spiffe://fle.local/gateway', 'ReportSealCounts', 'PERMISSION_DENIED'],
      ['spiffe://fle.local/admin', 'ReportSealCounts', 'PERMISSION_DENIED'],
      ['spiffe://fle.local/processor', 'ReportSealCounts', 'NOT_FOUND'],
      ['spiffe://fle.local/admin', 'GetRotationPolicy', 'OK'],
    ]);
    expect(typeof audit.entries[0]!.generation).toBe('number');
  });

  it('fails closed when the audit log cannot be written: no key leaves unaudited', async () => {
    const broken: AuditSink = {
      record() {
        throw new Error('disk full');
      },
      close() {},
    };
    const { svc } = make(broken);
    const { err, res } = await invoke(svc.getPrimaryKey, { tenant: 'acme', ring: 'default' }, 'URI:spiffe://fle.local/processor');
    expect(err?.code).toBe(status.INTERNAL);
    expect(err?.details).toBe('internal keystore error');
    expect(res).toBeUndefined();
  });

  it('an unexpected failure is INTERNAL with a fixed message; the cause goes to the log only', async () => {
    const exploding = new Keystore({
      storage: { ...storage, get: async () => Promise.reject(new Error('secret internals')) } as unknown as FileKeyStorage,
      masterKey: master,
    });
    const opts = { keystore: exploding, policy: () => policy, audit: new MemoryAuditLog(), onError: (e: unknown) => errors.push(e) };
    const { err } = await invoke(keystoreServiceImpl(opts).getPrimaryKey, { tenant: 'acme', ring: 'default' }, 'URI:spiffe://fle.local/processor');
    expect(err).toMatchObject({ code: status.INTERNAL, details: 'internal keystore error' });
    expect(errors.some((e) => (e as Error).message === 'secret internals')).toBe(true);
  });
});
