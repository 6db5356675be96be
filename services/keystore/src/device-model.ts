// Devices (issue 22, docs/devices.md): the X25519 public keys of a tenant's
// apps, the senders of envelope alg 4. One record per tenant, stored and
// authenticated like a key ring record (device-store.ts): its devices, and
// the one-time enrollment tokens an admin issued (only a hash of each).
//
//   CreateDeviceEnrollment ──▶ enrollment (unused) ──EnrollDevice──▶ used, device ACTIVE
//   device ACTIVE ──RevokeDevice──▶ REVOKED (final)
//
// The functions here are pure: each returns a new record or throws a typed
// error (errors.ts). A token is "fle_enr_<id>.<secret>": the id (12 random
// bytes) finds the enrollment, the secret (32 random bytes) proves the caller
// holds the token; the record keeps SHA-256 over both and the tenant, compared
// in constant time. Nothing secret is ever kept or logged.
import { createHash, timingSafeEqual } from 'node:crypto';
import { AlreadyExistsError, EnrollmentTokenError, InvalidArgumentError, InvalidTransitionError, NotFoundError, ResourceLimitError } from './errors.js';
import { assertTenant } from './model.js';

export type DeviceState = 'active' | 'revoked';

export interface DeviceRecord {
  /** "dev_" and 16 base64url characters, chosen by the keystore. */
  id: string;
  /** base64url (no padding) of the 32-byte X25519 public key. */
  publicKey: string;
  /** What the app called itself (may be empty). */
  label: string;
  state: DeviceState;
  enrolledAt: number;
  /** null while active. */
  revokedAt: number | null;
  /** The enrollment (token id) the device was enrolled with. */
  enrollment: string;
}

export interface EnrollmentRecord {
  /** The token's id part (not secret). */
  id: string;
  /** base64url SHA-256 of the token (tokenHash). */
  hash: string;
  createdAt: number;
  expiresAt: number;
  /** Set when redeemed: a token enrolls one device only. */
  usedAt: number | null;
  device: string | null;
}

export interface DeviceRegistryRecord {
  tenant: string;
  createdAt: number;
  /** As a key ring record's (model.ts): 1 when created, +1 on every write; tagged and anchored. */
  generation: number;
  /** In the order they were enrolled. Revoked devices stay (their keys can never come back). */
  devices: DeviceRecord[];
  /** Unexpired tokens, and used or expired ones until ENROLLMENT_RETENTION_MS after their expiry. */
  enrollments: EnrollmentRecord[];
}

/** What callers get: the public key as bytes, and the generation of the record it came from. */
export interface DeviceView {
  tenant: string;
  id: string;
  publicKey: Uint8Array;
  label: string;
  state: DeviceState;
  enrolledAt: number;
  revokedAt: number | null;
  enrollment: string;
  generation: number;
}

/**
 * The name under which a tenant's device record is anchored (record-auth.ts
 * GenerationAnchor, keyed `tenant/ring`) and reported when refused. Not a
 * valid ring name (model.ts), so it never meets a ring.
 */
export const DEVICES_RECORD = '~devices';

/**
 * Audit actions about a tenant's device record: their lines carry ring null and
 * the record's generation, which the keystore re-reads at start (keystore-state.ts).
 */
export const DEVICE_ACTIONS: ReadonlySet<string> = new Set([
  'CreateDeviceEnrollment',
  'EnrollDevice',
  'RevokeDevice',
  'ListDevices',
  'GetDevices',
  // `fle keystore restore` (backup.ts): the restored record's generation.
  'RestoreDeviceRecord',
]);

export const DEFAULT_ENROLLMENT_TTL_MS = 10 * 60_000;
export const MIN_ENROLLMENT_TTL_MS = 1000;
export const MAX_ENROLLMENT_TTL_MS = 7 * 24 * 3600_000;
/** Used and expired tokens are kept this long after their expiry, so a late redeem hears "used"/"expired", not "unknown". */
export const ENROLLMENT_RETENTION_MS = 24 * 3600_000;
/**
 * Devices per tenant, revoked ones included. The record is one storage value
 * (NATS KV values are at most 1 MiB, @fle/nats-setup storage-budget.ts); a
 * device takes about 250 bytes of it.
 */
export const MAX_DEVICES_PER_TENANT = 2000;
/** Tokens per tenant that are unexpired and unused at once. */
export const MAX_OPEN_ENROLLMENTS = 200;
export const MAX_LABEL_LENGTH = 64;

const TOKEN_PREFIX = 'fle_enr_';
const TOKEN = /^fle_enr_([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{43})$/;
const ENROLLMENT_ID = /^[A-Za-z0-9_-]{16}$/;
const DEVICE_ID = /^dev_[A-Za-z0-9_-]{16}$/;
const B64URL_32 = /^[A-Za-z0-9_-]{43}$/;

export function newRegistry(tenant: string, now: number): DeviceRegistryRecord {
  return { tenant, createdAt: now, generation: 1, devices: [], enrollments: [] };
}

/** base64url SHA-256 over the tenant, the token id and its secret (the tenant binds a token to its registry). */
export function tokenHash(tenant: string, id: string, secret: string): string {
  return createHash('sha256').update(JSON.stringify(['fle.keystore.v1.enroll', tenant, id, secret]), 'utf8').digest('base64url');
}

/** The id part of a well-formed token, else undefined (for audit lines: never the secret). */
export function enrollmentIdOf(token: string): string | undefined {
  return typeof token === 'string' ? TOKEN.exec(token)?.[1] : undefined;
}

/** Drops used and expired enrollments past their retention. */
export function prune(reg: DeviceRegistryRecord, now: number): DeviceRegistryRecord {
  const enrollments = reg.enrollments.filter((e) => e.expiresAt + ENROLLMENT_RETENTION_MS > now);
  return enrollments.length === reg.enrollments.length ? reg : { ...reg, enrollments };
}

/** Adds an enrollment; returns the token (shown once, to the admin who asked). */
export function issueEnrollment(
  reg: DeviceRegistryRecord,
  ttlMs: number,
  now: number,
  rng: (n: number) => Uint8Array,
): { registry: DeviceRegistryRecord; token: string; enrollment: EnrollmentRecord } {
  assertEnrollmentTtl(ttlMs);
  const pruned = prune(reg, now);
  const open = pruned.enrollments.filter((e) => e.usedAt === null && e.expiresAt > now).length;
  if (open >= MAX_OPEN_ENROLLMENTS) {
    throw new ResourceLimitError(`tenant ${reg.tenant} has ${open} unused enrollment tokens open (at most ${MAX_OPEN_ENROLLMENTS}): let some expire first`);
  }
  if (pruned.devices.length >= MAX_DEVICES_PER_TENANT) {
    throw new ResourceLimitError(`tenant ${reg.tenant} has ${pruned.devices.length} devices (at most ${MAX_DEVICES_PER_TENANT}, revoked ones included)`);
  }
  let id: string;
  do id = b64(rng(12));
  while (pruned.enrollments.some((e) => e.id === id));
  const secret = b64(rng(32));
  const enrollment: EnrollmentRecord = { id, hash: tokenHash(reg.tenant, id, secret), createdAt: now, expiresAt: now + ttlMs, usedAt: null, device: null };
  return { registry: { ...pruned, enrollments: [...pruned.enrollments, enrollment] }, token: `${TOKEN_PREFIX}${id}.${secret}`, enrollment };
}

/**
 * Redeems a token for a device public key. Refused (EnrollmentTokenError,
 * PERMISSION_DENIED): a token this tenant did not issue (or another tenant's),
 * an expired one, a used one; the secret is checked before anything about the
 * token's state is said.
 */
export function enroll(
  reg: DeviceRegistryRecord,
  req: { token: string; publicKey: Uint8Array; label: string },
  now: number,
  rng: (n: number) => Uint8Array,
): { registry: DeviceRegistryRecord; device: DeviceRecord } {
  const m = typeof req.token === 'string' ? TOKEN.exec(req.token) : null;
  if (!m) throw new InvalidArgumentError(`enrollment token is malformed (expected ${TOKEN_PREFIX}<id>.<secret>, as \`fle devices enroll\` prints it)`);
  const [, id, secret] = m as unknown as [string, string, string];
  assertDevicePublicKey(req.publicKey);
  assertLabel(req.label);
  const e = reg.enrollments.find((x) => x.id === id);
  // Compared whether or not the id was found, so the time taken does not say which.
  const want = Buffer.from(e?.hash ?? tokenHash(reg.tenant, 'none', 'none'), 'base64url');
  const got = Buffer.from(tokenHash(reg.tenant, id, secret), 'base64url');
  const match = want.length === got.length && timingSafeEqual(want, got);
  if (!e || !match) throw new EnrollmentTokenError('invalid', `enrollment token is not valid for tenant ${reg.tenant}`);
  if (e.usedAt !== null) throw new EnrollmentTokenError('used', `enrollment token ${id} was already used (device ${e.device}): a token enrolls one device; issue a new one with \`fle devices enroll\``);
  if (now >= e.expiresAt) throw new EnrollmentTokenError('expired', `enrollment token ${id} expired at ${new Date(e.expiresAt).toISOString()}: issue a new one with \`fle devices enroll\``);
  const publicKey = Buffer.from(req.publicKey).toString('base64url');
  const same = reg.devices.find((d) => d.publicKey === publicKey);
  if (same?.state === 'active') throw new AlreadyExistsError(`this public key is already enrolled for tenant ${reg.tenant} as device ${same.id}`);
  if (same) throw new InvalidTransitionError(`this public key belonged to device ${same.id} of tenant ${reg.tenant}, which was revoked: generate a new key pair`);
  if (reg.devices.length >= MAX_DEVICES_PER_TENANT) {
    throw new ResourceLimitError(`tenant ${reg.tenant} has ${reg.devices.length} devices (at most ${MAX_DEVICES_PER_TENANT}, revoked ones included)`);
  }
  let deviceId: string;
  do deviceId = `dev_${b64(rng(12))}`;
  while (reg.devices.some((d) => d.id === deviceId));
  const device: DeviceRecord = { id: deviceId, publicKey, label: req.label, state: 'active', enrolledAt: now, revokedAt: null, enrollment: id };
  const enrollments = reg.enrollments.map((x) => (x.id === id ? { ...x, usedAt: now, device: deviceId } : x));
  return { registry: prune({ ...reg, devices: [...reg.devices, device], enrollments }, now), device };
}

/** active -> revoked. Final: the key can never be enrolled again for the tenant. */
export function revoke(reg: DeviceRegistryRecord, deviceId: string, now: number): { registry: DeviceRegistryRecord; device: DeviceRecord } {
  assertDeviceId(deviceId);
  const d = reg.devices.find((x) => x.id === deviceId);
  if (!d) throw new NotFoundError(`tenant ${reg.tenant} has no device ${deviceId}`);
  if (d.state === 'revoked') throw new InvalidTransitionError(`device ${deviceId} of tenant ${reg.tenant} is already revoked`);
  const device: DeviceRecord = { ...d, state: 'revoked', revokedAt: now };
  return { registry: prune({ ...reg, devices: reg.devices.map((x) => (x.id === deviceId ? device : x)) }, now), device };
}

export function deviceView(reg: DeviceRegistryRecord, d: DeviceRecord): DeviceView {
  return {
    tenant: reg.tenant,
    id: d.id,
    publicKey: new Uint8Array(Buffer.from(d.publicKey, 'base64url')),
    label: d.label,
    state: d.state,
    enrolledAt: d.enrolledAt,
    revokedAt: d.revokedAt,
    enrollment: d.enrollment,
    generation: reg.generation,
  };
}

export function assertEnrollmentTtl(ttlMs: number): void {
  if (!Number.isSafeInteger(ttlMs) || ttlMs < MIN_ENROLLMENT_TTL_MS || ttlMs > MAX_ENROLLMENT_TTL_MS) {
    throw new InvalidArgumentError(`enrollment ttl must be a whole number of milliseconds from ${MIN_ENROLLMENT_TTL_MS} to ${MAX_ENROLLMENT_TTL_MS} (7 days)`);
  }
}

export function assertDeviceId(id: string): void {
  if (typeof id !== 'string' || !DEVICE_ID.test(id)) throw new InvalidArgumentError('device id must be "dev_" followed by 16 base64url characters');
}

export function assertLabel(label: string): void {
  if (typeof label !== 'string' || [...label].length > MAX_LABEL_LENGTH || /[\p{Cc}\p{Zl}\p{Zp}]/u.test(label)) {
    throw new InvalidArgumentError(`device label must be at most ${MAX_LABEL_LENGTH} characters, without control characters`);
  }
}

// p = 2^255 - 19, little-endian.
const P = Buffer.from('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', 'hex');
/**
 * The canonical encodings of the points of small order on Curve25519 (order 1,
 * 2, 4, 8; libsodium's blocklist, less the encodings at or above p which the
 * canonical check refuses already). A DH with one of them gives a shared
 * secret known to everyone.
 */
const SMALL_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
];

/**
 * A device public key: 32 bytes (RFC 7748), canonical (below p, top bit
 * clear: X25519 ignores that bit, so one point has one encoding and a key
 * cannot be enrolled twice under two spellings), and not of small order.
 * Public keys computed by X25519 from a private key always pass.
 */
export function assertDevicePublicKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== 32) {
    throw new InvalidArgumentError(`device public key must be 32 bytes (X25519), got ${key instanceof Uint8Array ? key.length : 'none'}`);
  }
  if ((key[31]! & 0x80) !== 0 || !lessThanP(key)) throw new InvalidArgumentError('device public key is not a canonical X25519 public key');
  const hex = Buffer.from(key).toString('hex');
  if (SMALL_ORDER.includes(hex)) throw new InvalidArgumentError('device public key is a low-order X25519 point (all-zero or of small order): not a real public key');
}

function lessThanP(key: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    if (key[i]! < P[i]!) return true;
    if (key[i]! > P[i]!) return false;
  }
  return false; // equal to p
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

const RECORD_KEYS = new Set(['tenant', 'createdAt', 'generation', 'devices', 'enrollments']);
const DEVICE_KEYS = new Set(['id', 'publicKey', 'label', 'state', 'enrolledAt', 'revokedAt', 'enrollment']);
const ENROLLMENT_KEYS = new Set(['id', 'hash', 'createdAt', 'expiresAt', 'usedAt', 'device']);

/** Checks a device record read from storage before it is trusted: shape, invariants, no field its tag would not cover. */
export function assertDeviceRegistryRecord(value: unknown): asserts value is DeviceRegistryRecord {
  const r = value as DeviceRegistryRecord;
  const bad = (what: string): never => {
    throw new InvalidArgumentError(`malformed device record: ${what}`);
  };
  if (typeof r !== 'object' || r === null || Array.isArray(r)) bad('not an object');
  for (const k of Object.keys(r)) if (!RECORD_KEYS.has(k)) bad(`unknown field ${JSON.stringify(k)}`);
  assertTenant(r.tenant);
  if (!Number.isFinite(r.createdAt)) bad('createdAt');
  if (!Number.isSafeInteger(r.generation) || r.generation < 1) bad('generation');
  if (!Array.isArray(r.devices) || !Array.isArray(r.enrollments)) bad('devices or enrollments');
  if (r.devices.length > MAX_DEVICES_PER_TENANT) bad('too many devices');
  const ids = new Set<string>();
  const keys = new Set<string>();
  for (const d of r.devices) {
    if (typeof d !== 'object' || d === null) bad('device entry');
    for (const k of Object.keys(d)) if (!DEVICE_KEYS.has(k)) bad(`unknown device field ${JSON.stringify(k)}`);
    if (typeof d.id !== 'string' || !DEVICE_ID.test(d.id) || ids.has(d.id)) bad('device id');
    if (typeof d.publicKey !== 'string' || !B64URL_32.test(d.publicKey) || keys.has(d.publicKey)) bad(`public key of ${d.id}`);
    ids.add(d.id);
    keys.add(d.publicKey);
    if (typeof d.label !== 'string') bad('label');
    if (d.state !== 'active' && d.state !== 'revoked') bad('state');
    if (!Number.isFinite(d.enrolledAt)) bad('enrolledAt');
    if (d.state === 'active' ? d.revokedAt !== null : !Number.isFinite(d.revokedAt)) bad('revokedAt');
    if (typeof d.enrollment !== 'string' || !ENROLLMENT_ID.test(d.enrollment)) bad('enrollment');
  }
  const eids = new Set<string>();
  for (const e of r.enrollments) {
    if (typeof e !== 'object' || e === null) bad('enrollment entry');
    for (const k of Object.keys(e)) if (!ENROLLMENT_KEYS.has(k)) bad(`unknown enrollment field ${JSON.stringify(k)}`);
    if (typeof e.id !== 'string' || !ENROLLMENT_ID.test(e.id) || eids.has(e.id)) bad('enrollment id');
    eids.add(e.id);
    if (typeof e.hash !== 'string' || !B64URL_32.test(e.hash)) bad('enrollment hash');
    if (!Number.isFinite(e.createdAt) || !Number.isFinite(e.expiresAt)) bad('enrollment times');
    if ((e.usedAt === null) !== (e.device === null)) bad('enrollment use');
    if (e.usedAt !== null && (!Number.isFinite(e.usedAt) || typeof e.device !== 'string')) bad('enrollment use');
  }
}
