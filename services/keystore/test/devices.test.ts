// Device enrollment in the keystore (issue 22 item 3): the pure record
// functions, the authenticated device records in file storage, and the gRPC
// handlers' policy, statuses and audit lines (without a network).
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status, type ServerUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { SecretKey } from '@fle/field-crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { FileAuditLog, MemoryAuditLog, auditKeyFromMaster, verifyAuditText } from '../src/audit.js';
import {
  DEVICES_RECORD,
  ENROLLMENT_RETENTION_MS,
  MAX_OPEN_ENROLLMENTS,
  assertDevicePublicKey,
  assertDeviceRegistryRecord,
  enroll,
  issueEnrollment,
  newRegistry,
  revoke,
} from '../src/device-model.js';
import { AlreadyExistsError, EnrollmentTokenError, InvalidArgumentError, InvalidTransitionError, NotFoundError, RecordIntegrityError, RecordRollbackError, ResourceLimitError } from '../src/errors.js';
import { anchorFromAudit } from '../src/keystore-state.js';
import { Keystore } from '../src/keystore.js';
import { masterKeyId } from '../src/master-key.js';
import { Policy } from '../src/policy.js';
import { GenerationAnchor } from '../src/record-auth.js';
import { keystoreAdminServiceImpl, keystoreServiceImpl } from '../src/server.js';
import { FileKeyStorage } from '../src/storage/file.js';

const root = mkdtempSync(join(tmpdir(), 'fle-devices-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const master = (): SecretKey => new SecretKey(new Uint8Array(32).fill(5));

/** A real X25519 public key (node:crypto). */
function devicePublicKey(): Uint8Array {
  const { publicKey } = generateKeyPairSync('x25519');
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return new Uint8Array(spki.subarray(spki.length - 32));
}

let counter = 0;
const rng = (len: number): Uint8Array => {
  // Deterministic but distinct: the pure functions take the generator.
  counter++;
  return new Uint8Array(len).map((_, i) => (counter * 31 + i * 7) & 0xff);
};

async function open(opts: { now?: () => number; anchor?: GenerationAnchor; path?: string } = {}) {
  const path = opts.path ?? join(root, `k${n++}`, 'keystore.json');
  const storage = FileKeyStorage.open(path);
  await storage.init(masterKeyId(master()));
  const refused: Array<{ tenant: string; ring: string }> = [];
  const ks = new Keystore({
    storage,
    masterKey: master(),
    ...(opts.anchor ? { anchor: opts.anchor } : {}),
    ...(opts.now ? { now: opts.now } : {}),
    onRecordRefused: (r) => refused.push({ tenant: r.tenant, ring: r.ring }),
  });
  return { ks, storage, path, refused };
}

describe('device records (pure)', () => {
  const T0 = 1_700_000_000_000;

  it('issues a token, enrolls one device with it, and refuses the token again', () => {
    const { registry, token, enrollment } = issueEnrollment(newRegistry('acme', T0), 60_000, T0, rng);
    expect(token).toMatch(/^fle_enr_[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{43}$/);
    // Only a hash is kept: the secret part appears nowhere in the record.
    const secret = token.split('.')[1]!;
    expect(JSON.stringify(registry)).not.toContain(secret);
    expect(registry.enrollments).toEqual([expect.objectContaining({ id: enrollment.id, usedAt: null, expiresAt: T0 + 60_000 })]);
    const pk = devicePublicKey();
    const { registry: after, device } = enroll(registry, { token, publicKey: pk, label: 'ios 17' }, T0 + 1000, rng);
    expect(device).toMatchObject({ state: 'active', label: 'ios 17', enrollment: enrollment.id, publicKey: Buffer.from(pk).toString('base64url') });
    expect(device.id).toMatch(/^dev_[A-Za-z0-9_-]{16}$/);
    assertDeviceRegistryRecord({ ...after, generation: 1 });
    const again = (): unknown => enroll(after, { token, publicKey: devicePublicKey(), label: '' }, T0 + 2000, rng);
    expect(again).toThrow(EnrollmentTokenError);
    expect(again).toThrow(/already used \(device dev_/);
  });

  it('refuses an expired token, a token with a wrong secret, and a token of another tenant', () => {
    const a = issueEnrollment(newRegistry('acme', T0), 1000, T0, rng);
    const expired = (): unknown => enroll(a.registry, { token: a.token, publicKey: devicePublicKey(), label: '' }, T0 + 1000, rng);
    expect(expired).toThrow(EnrollmentTokenError);
    expect(expired).toThrow(/expired at/);
    const wrong = a.token.slice(0, -1) + (a.token.endsWith('A') ? 'B' : 'A');
    expect(() => enroll(a.registry, { token: wrong, publicKey: devicePublicKey(), label: '' }, T0, rng)).toThrow(/not valid for tenant acme/);
    // The same token against another tenant's record (even one that holds the same id) is not valid.
    const globex = { ...a.registry, tenant: 'globex' };
    expect(() => enroll(globex, { token: a.token, publicKey: devicePublicKey(), label: '' }, T0, rng)).toThrow(/not valid for tenant globex/);
    try {
      enroll(globex, { token: a.token, publicKey: devicePublicKey(), label: '' }, T0, rng);
    } catch (err) {
      expect((err as EnrollmentTokenError).reason).toBe('invalid');
      expect((err as Error).message).not.toContain(a.token.split('.')[1]!);
    }
    expect(() => enroll(a.registry, { token: 'not-a-token', publicKey: devicePublicKey(), label: '' }, T0, rng)).toThrow(InvalidArgumentError);
  });

  it('validates public keys: 32 bytes, canonical, not all-zero or of small order', () => {
    expect(() => assertDevicePublicKey(devicePublicKey())).not.toThrow();
    expect(() => assertDevicePublicKey(new Uint8Array(31).fill(9))).toThrow(/32 bytes/);
    const lowOrder = [
      '0000000000000000000000000000000000000000000000000000000000000000',
      '0100000000000000000000000000000000000000000000000000000000000000',
      'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
      '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
      'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    ];
    for (const hex of lowOrder) expect(() => assertDevicePublicKey(Buffer.from(hex, 'hex'))).toThrow(/low-order/);
    // p, p+1 and a set top bit are other spellings of points: not canonical.
    for (const hex of [
      'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      '0000000000000000000000000000000000000000000000000000000000000080',
    ]) {
      expect(() => assertDevicePublicKey(Buffer.from(hex, 'hex'))).toThrow(/not a canonical/);
    }
    const good = devicePublicKey();
    const high = Uint8Array.from(good);
    high[31]! |= 0x80;
    expect(() => assertDevicePublicKey(high)).toThrow(InvalidArgumentError);
    // The enroll path checks it before the token is consumed.
    const a = issueEnrollment(newRegistry('acme', T0), 60_000, T0, rng);
    expect(() => enroll(a.registry, { token: a.token, publicKey: new Uint8Array(32), label: '' }, T0, rng)).toThrow(/low-order/);
  });

  it('refuses a key enrolled already, or one of a revoked device; revocation is final', () => {
    const pk = devicePublicKey();
    let r = newRegistry('acme', T0);
    const t1 = issueEnrollment(r, 60_000, T0, rng);
    const e1 = enroll(t1.registry, { token: t1.token, publicKey: pk, label: '' }, T0, rng);
    const t2 = issueEnrollment(e1.registry, 60_000, T0, rng);
    expect(() => enroll(t2.registry, { token: t2.token, publicKey: pk, label: '' }, T0, rng)).toThrow(AlreadyExistsError);
    const rv = revoke(t2.registry, e1.device.id, T0 + 5);
    expect(rv.device).toMatchObject({ state: 'revoked', revokedAt: T0 + 5 });
    expect(() => enroll(rv.registry, { token: t2.token, publicKey: pk, label: '' }, T0, rng)).toThrow(InvalidTransitionError);
    expect(() => revoke(rv.registry, e1.device.id, T0)).toThrow(/already revoked/);
    expect(() => revoke(rv.registry, 'dev_AAAAAAAAAAAAAAAA', T0)).toThrow(NotFoundError);
    expect(() => revoke(rv.registry, '../etc', T0)).toThrow(InvalidArgumentError);
    r = rv.registry;
    expect(r.devices).toHaveLength(1);
  });

  it('checks labels and ttls, caps open tokens, and prunes old ones', () => {
    const a = issueEnrollment(newRegistry('acme', T0), 60_000, T0, rng);
    expect(() => enroll(a.registry, { token: a.token, publicKey: devicePublicKey(), label: 'x'.repeat(65) }, T0, rng)).toThrow(/label/);
    expect(() => enroll(a.registry, { token: a.token, publicKey: devicePublicKey(), label: 'a\nb' }, T0, rng)).toThrow(/label/);
    expect(() => issueEnrollment(newRegistry('acme', T0), 999, T0, rng)).toThrow(/ttl/);
    expect(() => issueEnrollment(newRegistry('acme', T0), 8 * 24 * 3600_000, T0, rng)).toThrow(/ttl/);
    let r = newRegistry('acme', T0);
    for (let i = 0; i < MAX_OPEN_ENROLLMENTS; i++) r = issueEnrollment(r, 60_000, T0, rng).registry;
    expect(() => issueEnrollment(r, 60_000, T0, rng)).toThrow(ResourceLimitError);
    // Once they expired (and their retention passed) they are pruned and new ones can be issued.
    const later = T0 + 60_000 + ENROLLMENT_RETENTION_MS;
    const fresh = issueEnrollment(r, 60_000, later, rng);
    expect(fresh.registry.enrollments).toHaveLength(1);
  });

  it('refuses malformed stored records', () => {
    const ok = { ...issueEnrollment(newRegistry('acme', T0), 60_000, T0, rng).registry, generation: 1 };
    expect(() => assertDeviceRegistryRecord(ok)).not.toThrow();
    expect(() => assertDeviceRegistryRecord({ ...ok, extra: 1 })).toThrow(/unknown field/);
    expect(() => assertDeviceRegistryRecord({ ...ok, generation: 0 })).toThrow(/generation/);
    expect(() => assertDeviceRegistryRecord({ ...ok, enrollments: [{ ...ok.enrollments[0], usedAt: 5 }] })).toThrow(/enrollment use/);
  });
});

describe('device records in the keystore', () => {
  it('enrolls, lists and revokes, each write a new generation anchored', async () => {
    const { ks, storage } = await open();
    const issued = await ks.devices.issueEnrollment('acme', 60_000);
    expect(issued.generation).toBe(1);
    const pk = devicePublicKey();
    const d = await ks.devices.enroll('acme', { token: issued.token, publicKey: pk, label: 'pixel' });
    expect(d).toMatchObject({ tenant: 'acme', state: 'active', label: 'pixel', generation: 2 });
    expect(Buffer.from(d.publicKey)).toEqual(Buffer.from(pk));
    expect(ks.anchor.get('acme', DEVICES_RECORD)).toBe(2);
    const listed = await ks.devices.list('acme', { activeOnly: true });
    expect(listed).toMatchObject({ senderRequired: true, generation: 2 });
    expect(listed.devices.map((x) => x.id)).toEqual([d.id]);
    await ks.devices.revoke('acme', d.id);
    const after = await ks.devices.list('acme', { activeOnly: true });
    // Revoking the last device does not make the tenant accept anonymous envelopes again.
    expect(after).toMatchObject({ devices: [], senderRequired: true, generation: 3 });
    expect((await ks.devices.list('acme')).devices).toEqual([expect.objectContaining({ id: d.id, state: 'revoked' })]);
    expect(await ks.devices.list('nobody')).toEqual({ tenant: 'nobody', devices: [], senderRequired: false, generation: undefined });
    // Rings and devices do not see each other.
    expect(await ks.listRings('acme')).toEqual([]);
    expect((await ks.checkRecords()).refused).toEqual([]);
    await storage.close();
  });

  it('redeems a token once however many try at once', async () => {
    const { ks, storage } = await open();
    const { token } = await ks.devices.issueEnrollment('acme', 60_000);
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => ks.devices.enroll('acme', { token, publicKey: devicePublicKey(), label: '' })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results.filter((x) => x.status === 'rejected')) {
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(EnrollmentTokenError);
      expect(((r as PromiseRejectedResult).reason as EnrollmentTokenError).reason).toBe('used');
    }
    expect((await ks.devices.list('acme')).devices).toHaveLength(1);
    await storage.close();
  });

  it('refuses an expired token by the keystore clock, and a token of another tenant', async () => {
    let now = 1_700_000_000_000;
    const { ks, storage } = await open({ now: () => now });
    const { token } = await ks.devices.issueEnrollment('acme', 5000);
    await ks.devices.issueEnrollment('globex', 5000);
    await expect(ks.devices.enroll('globex', { token, publicKey: devicePublicKey(), label: '' })).rejects.toMatchObject({ reason: 'invalid' });
    await expect(ks.devices.enroll('nobody', { token, publicKey: devicePublicKey(), label: '' })).rejects.toMatchObject({ reason: 'invalid' });
    now += 5000;
    await expect(ks.devices.enroll('acme', { token, publicKey: devicePublicKey(), label: '' })).rejects.toMatchObject({ reason: 'expired' });
    // A refused enrollment writes nothing (no record for "nobody", acme still generation 1).
    expect(await storage.getDevices('nobody')).toBeUndefined();
    expect((await storage.getDevices('acme'))!.record.generation).toBe(1);
    await storage.close();
  });

  it('refuses an edited device record and an older copy put back (DATA_LOSS), and notices a removed one', async () => {
    const { ks, storage, path, refused } = await open();
    const { token } = await ks.devices.issueEnrollment('acme', 60_000);
    const before = readFileSync(path, 'utf8');
    const d = await ks.devices.enroll('acme', { token, publicKey: devicePublicKey(), label: '' });
    await ks.devices.revoke('acme', d.id);
    await storage.close();

    // Edit: bring the revoked device back to life.
    const doc = JSON.parse(readFileSync(path, 'utf8'));
    doc.devices.acme.record.devices[0].state = 'active';
    doc.devices.acme.record.devices[0].revokedAt = null;
    writeFileSync(path, JSON.stringify(doc));
    const anchor = new GenerationAnchor();
    anchor.note('acme', DEVICES_RECORD, 3);
    const edited = await open({ path, anchor });
    await expect(edited.ks.devices.list('acme', { activeOnly: true })).rejects.toBeInstanceOf(RecordIntegrityError);
    expect(edited.refused).toContainEqual({ tenant: 'acme', ring: DEVICES_RECORD });
    expect((await edited.ks.checkRecords()).refused).toEqual([expect.objectContaining({ tenant: 'acme', ring: DEVICES_RECORD })]);
    await edited.storage.close();

    // Older copy (generation 1, the token unused): refused behind the anchor.
    writeFileSync(path, before);
    const old = await open({ path, anchor });
    await expect(old.ks.devices.enroll('acme', { token, publicKey: devicePublicKey(), label: '' })).rejects.toBeInstanceOf(RecordRollbackError);
    await old.storage.close();

    // Removed: the anchor says it existed.
    const gone = JSON.parse(before);
    delete gone.devices;
    writeFileSync(path, JSON.stringify(gone));
    const removed = await open({ path, anchor });
    await expect(removed.ks.devices.list('acme')).rejects.toBeInstanceOf(RecordRollbackError);
    expect((await removed.ks.checkRecords()).refused).toEqual([expect.objectContaining({ tenant: 'acme', ring: DEVICES_RECORD })]);
    await removed.storage.close();
  });

  it('the audit log anchors device records: lines carry the generation, never the token', async () => {
    const { ks, storage } = await open();
    const logPath = join(root, `audit-${n++}.jsonl`);
    const macKey = auditKeyFromMaster(master());
    const log = await FileAuditLog.open(logPath, { macKey });
    const policy = Policy.fromYaml(`
deny: [spiffe://fle.local/gateway]
admin: [{ identity: spiffe://fle.local/admin, tenants: ["*"] }]
enroll: [{ identity: spiffe://fle.local/gateway, tenants: ["*"] }]
fetch: [{ identity: spiffe://fle.local/processor, tenants: ["*"] }]
`);
    const opts = { keystore: ks, policy: () => policy, audit: log };
    const admin = keystoreAdminServiceImpl(opts);
    const svc = keystoreServiceImpl(opts);
    const issued = await invoke<{ token: string; enrollmentId: string }>(admin.createDeviceEnrollment, { tenant: 'acme', ttlMs: 0 }, ADMIN);
    const enrolled = await invoke<{ device: { deviceId: string } }>(svc.enrollDevice, { tenant: 'acme', token: issued.res!.token, x25519PublicKey: Buffer.from(devicePublicKey()), label: 'web' }, GATEWAY);
    expect(enrolled.err).toBeNull();
    await invoke(admin.revokeDevice, { tenant: 'acme', deviceId: enrolled.res!.device.deviceId }, ADMIN);
    log.close();
    await storage.close();
    const text = readFileSync(logPath, 'utf8');
    expect(text).not.toContain(issued.res!.token.split('.')[1]!);
    expect(verifyAuditText(text, { macKey }).break).toBeUndefined();
    const lines = text.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toEqual([
      expect.objectContaining({ action: 'CreateDeviceEnrollment', tenant: 'acme', ring: null, generation: 1, enrollment: issued.res!.enrollmentId, outcome: 'OK' }),
      expect.objectContaining({ action: 'EnrollDevice', identity: 'spiffe://fle.local/gateway', generation: 2, enrollment: issued.res!.enrollmentId, device: enrolled.res!.device.deviceId }),
      expect.objectContaining({ action: 'RevokeDevice', generation: 3, device: enrolled.res!.device.deviceId, outcome: 'OK' }),
    ]);
    const anchor = new GenerationAnchor();
    for (const l of lines) anchorFromAudit(anchor)(l);
    expect(anchor.get('acme', DEVICES_RECORD)).toBe(3);
  });
});

const ADMIN = 'URI:spiffe://fle.local/admin';
const GATEWAY = 'URI:spiffe://fle.local/gateway';
const PROCESSOR = 'URI:spiffe://fle.local/processor';
const CLIENT = 'URI:spiffe://fle.local/client';

function invoke<Res>(handler: unknown, request: unknown, san: string | undefined): Promise<{ err: Partial<ServiceError> | null; res?: Res }> {
  const c = {
    request,
    getAuthContext: () => ({ transportSecurityType: 'ssl', sslPeerCertificate: san === undefined ? undefined : { subjectaltname: san } }),
  } as unknown as ServerUnaryCall<unknown, unknown>;
  return new Promise((resolve) => {
    (handler as (c: unknown, cb: (e: Partial<ServiceError> | null, r?: Res) => void) => void)(c, (err, res) => resolve({ err, res }));
  });
}

describe('device handlers: policy and statuses', async () => {
  const { ks } = await open();
  const policy = Policy.fromYaml(`
deny: [spiffe://fle.local/gateway]
fetch: [{ identity: spiffe://fle.local/processor, tenants: ["*"] }]
fetch-public: [{ identity: spiffe://fle.local/client, tenants: ["*"] }]
admin: [{ identity: spiffe://fle.local/admin, tenants: [acme] }]
enroll: [{ identity: spiffe://fle.local/gateway, tenants: [acme] }]
`);
  const audit = new MemoryAuditLog();
  const opts = { keystore: ks, policy: () => policy, audit };
  const admin = keystoreAdminServiceImpl(opts);
  const svc = keystoreServiceImpl(opts);

  it('admin issues, the gateway enrolls, the processor reads the active devices', async () => {
    const issued = await invoke<{ token: string; expiresAtUnixMs: number }>(admin.createDeviceEnrollment, { tenant: 'acme', ttlMs: 60_000 }, ADMIN);
    expect(issued.err).toBeNull();
    const pk = devicePublicKey();
    const e = await invoke<{ device: { deviceId: string } }>(svc.enrollDevice, { tenant: 'acme', token: issued.res!.token, x25519PublicKey: Buffer.from(pk), label: '' }, GATEWAY);
    expect(e.err).toBeNull();
    const got = await invoke<{ devices: Array<{ deviceId: string; x25519PublicKey: Buffer }>; senderRequired: boolean }>(svc.getDevices, { tenant: 'acme' }, PROCESSOR);
    expect(got.err).toBeNull();
    expect(got.res!.senderRequired).toBe(true);
    expect(got.res!.devices.map((d) => [d.deviceId, Buffer.from(d.x25519PublicKey).toString('hex')])).toEqual([[e.res!.device.deviceId, Buffer.from(pk).toString('hex')]]);
    // Reuse: PERMISSION_DENIED, saying so.
    const again = await invoke(svc.enrollDevice, { tenant: 'acme', token: issued.res!.token, x25519PublicKey: Buffer.from(devicePublicKey()), label: '' }, GATEWAY);
    expect(again.err).toMatchObject({ code: status.PERMISSION_DENIED, details: expect.stringMatching(/already used/) });
    // A low-order key: INVALID_ARGUMENT.
    const bad = await invoke(svc.enrollDevice, { tenant: 'acme', token: issued.res!.token, x25519PublicKey: Buffer.alloc(32), label: '' }, GATEWAY);
    expect(bad.err).toMatchObject({ code: status.INVALID_ARGUMENT });
  });

  it('only the named identities may: client, processor and gateway cannot administer devices; client cannot read or enroll', async () => {
    for (const san of [CLIENT, PROCESSOR, GATEWAY]) {
      expect((await invoke(admin.createDeviceEnrollment, { tenant: 'acme', ttlMs: 0 }, san)).err).toMatchObject({ code: status.PERMISSION_DENIED });
      expect((await invoke(admin.listDevices, { tenant: 'acme' }, san)).err).toMatchObject({ code: status.PERMISSION_DENIED });
      expect((await invoke(admin.revokeDevice, { tenant: 'acme', deviceId: 'dev_AAAAAAAAAAAAAAAA' }, san)).err).toMatchObject({ code: status.PERMISSION_DENIED });
    }
    const issued = await invoke<{ token: string }>(admin.createDeviceEnrollment, { tenant: 'acme', ttlMs: 0 }, ADMIN);
    const byClient = await invoke(svc.enrollDevice, { tenant: 'acme', token: issued.res!.token, x25519PublicKey: Buffer.from(devicePublicKey()), label: '' }, CLIENT);
    expect(byClient.err).toMatchObject({ code: status.PERMISSION_DENIED, details: expect.stringMatching(/may not enroll devices of tenant acme/) });
    expect((await invoke(svc.getDevices, { tenant: 'acme' }, CLIENT)).err).toMatchObject({ code: status.PERMISSION_DENIED, details: expect.stringMatching(/read the devices/) });
    // The gateway is denied every key, and reading devices, whatever `enroll` says.
    expect((await invoke(svc.getDevices, { tenant: 'acme' }, GATEWAY)).err).toMatchObject({ code: status.PERMISSION_DENIED });
    expect((await invoke(svc.getPrimaryKey, { tenant: 'acme', ring: 'default' }, GATEWAY)).err).toMatchObject({ code: status.PERMISSION_DENIED });
    // enroll for acme only.
    expect((await invoke(svc.enrollDevice, { tenant: 'globex', token: issued.res!.token, x25519PublicKey: Buffer.from(devicePublicKey()), label: '' }, GATEWAY)).err).toMatchObject({
      code: status.PERMISSION_DENIED,
    });
    // The token was not spent by any refused attempt.
    expect((await invoke(svc.enrollDevice, { tenant: 'acme', token: issued.res!.token, x25519PublicKey: Buffer.from(devicePublicKey()), label: '' }, GATEWAY)).err).toBeNull();
  });

  it('statuses: unknown device NOT_FOUND, revoked twice FAILED_PRECONDITION, bad ttl INVALID_ARGUMENT; no token in any audit line', async () => {
    expect((await invoke(admin.revokeDevice, { tenant: 'acme', deviceId: 'dev_AAAAAAAAAAAAAAAA' }, ADMIN)).err).toMatchObject({ code: status.NOT_FOUND });
    expect((await invoke(admin.createDeviceEnrollment, { tenant: 'acme', ttlMs: 5 }, ADMIN)).err).toMatchObject({ code: status.INVALID_ARGUMENT });
    const list = await invoke<{ devices: Array<{ deviceId: string }> }>(admin.listDevices, { tenant: 'acme' }, ADMIN);
    const id = list.res!.devices[0]!.deviceId;
    expect((await invoke(admin.revokeDevice, { tenant: 'acme', deviceId: id }, ADMIN)).err).toBeNull();
    expect((await invoke(admin.revokeDevice, { tenant: 'acme', deviceId: id }, ADMIN)).err).toMatchObject({ code: status.FAILED_PRECONDITION });
    const garbage = await invoke(svc.enrollDevice, { tenant: 'acme', token: 'fle_enr_x', x25519PublicKey: Buffer.from(devicePublicKey()), label: '' }, GATEWAY);
    expect(garbage.err).toMatchObject({ code: status.INVALID_ARGUMENT });
    expect(audit.entries.some((e) => /fle_enr_[A-Za-z0-9_-]{16}\./.test(JSON.stringify(e)))).toBe(false);
    expect(audit.entries.filter((e) => e.action === 'EnrollDevice' && e.outcome === 'OK').every((e) => typeof e.device === 'string' && typeof e.enrollment === 'string')).toBe(true);
  });
});
