// What the keystore stores: key rings and their versions, with each key
// wrapped under the master key (wrap.ts). These records are the storage
// format of every backend and of backups, so they are plain JSON.
import { InvalidArgumentError } from './errors.js';

/** DESIGN.md "Keys": pending -> primary -> decrypt-only -> disabled -> destroyed. */
export type VersionState = 'pending' | 'primary' | 'decrypt-only' | 'disabled' | 'destroyed';

export const VERSION_STATES: readonly VersionState[] = ['pending', 'primary', 'decrypt-only', 'disabled', 'destroyed'];

/**
 * What a ring's versions hold: `symmetric` 32-byte keys (envelope v1, alg 1/2)
 * or `x25519` key pairs (HPKE, envelope alg 3/4, docs/envelope-hpke.md). The
 * wrapped secret is 32 bytes either way; an X25519 public key is derived from
 * its private key whenever it is served, so storage cannot hold a mismatched one.
 */
export type KeyKindName = 'symmetric' | 'x25519';

/** Envelope alg byte (envelope-v1.md §1). */
export type SymmetricAlgByte = 1 | 2;
/** The alg of an X25519 ring: HPKE, envelope alg 3 (and 4 in auth mode). */
export const HPKE_ALG_BYTE = 3;
/** A ring's alg: 1/2 for symmetric rings, 3 for X25519 rings. */
export type KeyAlgByte = SymmetricAlgByte | typeof HPKE_ALG_BYTE;

/**
 * New symmetric rings are alg 2 (XChaCha20-Poly1305, envelope-v1.md §2):
 * 192-bit random nonces put no practical limit on envelopes per version, so a
 * version rotates by age only. Alg 1 (96-bit nonces, about 2^32 envelopes per
 * version) stays available when asked for.
 */
export const DEFAULT_SYMMETRIC_ALG: SymmetricAlgByte = 2;

/** The one alg each kind allows, or the default when none is asked for (INVALID_ARGUMENT otherwise). */
export function algForKind(kind: KeyKindName, alg: KeyAlgByte | undefined): KeyAlgByte {
  if (kind === 'x25519') {
    if (alg !== undefined && alg !== HPKE_ALG_BYTE) throw new InvalidArgumentError('an x25519 key ring uses alg 3 (HPKE) only');
    return HPKE_ALG_BYTE;
  }
  if (alg === HPKE_ALG_BYTE) throw new InvalidArgumentError('alg 3 (HPKE) needs an x25519 key ring');
  return alg ?? DEFAULT_SYMMETRIC_ALG;
}

export interface KeyVersionRecord {
  version: number;
  state: VersionState;
  createdAt: number;
  stateChangedAt: number;
  /** base64 of nonce || ciphertext || tag (wrap.ts); null once destroyed. */
  wrapped: string | null;
  /** Envelopes sealed under this version, as services reported them (ReportSealCounts); absent = 0. */
  sealCount?: number;
}

/**
 * When the keystore rotates a ring by itself (rotation-scheduler.ts): a new
 * pending version once the primary has been primary for `rotateAfterMs`, or
 * (alg 1 rings only) once `maxEnvelopes` seals were reported under it; the
 * pending version is promoted `propagationDelayMs` after it was created.
 */
export interface RotationPolicy {
  rotateAfterMs: number;
  /** Alg 1 (96-bit random nonces, envelope-v1.md §2) only; null: no volume limit. */
  maxEnvelopes: number | null;
  propagationDelayMs: number;
}

export interface KeyRingRecord {
  tenant: string;
  ring: string;
  kind: KeyKindName;
  alg: KeyAlgByte;
  createdAt: number;
  /**
   * Counts the record's writes: 1 when created, +1 on every change. Bound into
   * the record's tag (record-auth.ts) and anchored in the audit log, so an
   * older copy of the record put back is refused.
   */
  generation: number;
  /** Absent: rotated by hand only. */
  rotation?: RotationPolicy;
  /** Ascending by version; numbers are never reused. */
  versions: KeyVersionRecord[];
}

/** Metadata handed to admins: never key bytes. */
export interface KeyVersionView {
  tenant: string;
  ring: string;
  version: number;
  kind: KeyKindName;
  alg: KeyAlgByte;
  state: VersionState;
  createdAt: number;
  stateChangedAt: number;
  sealCount: number;
  /** The ring record's generation this view was taken from (audit lines carry it). */
  generation: number;
}

export interface KeyRingView {
  tenant: string;
  ring: string;
  kind: KeyKindName;
  alg: KeyAlgByte;
  primaryVersion: number;
  createdAt: number;
  generation: number;
  rotation: RotationPolicy | null;
}

export function versionView(ring: KeyRingRecord, v: KeyVersionRecord): KeyVersionView {
  return {
    tenant: ring.tenant,
    ring: ring.ring,
    version: v.version,
    kind: ring.kind,
    alg: ring.alg,
    state: v.state,
    createdAt: v.createdAt,
    stateChangedAt: v.stateChangedAt,
    sealCount: v.sealCount ?? 0,
    generation: ring.generation,
  };
}

export function ringView(ring: KeyRingRecord): KeyRingView {
  const primary = ring.versions.find((v) => v.state === 'primary');
  return {
    tenant: ring.tenant,
    ring: ring.ring,
    kind: ring.kind,
    alg: ring.alg,
    primaryVersion: primary?.version ?? 0,
    createdAt: ring.createdAt,
    generation: ring.generation,
    rotation: ring.rotation ?? null,
  };
}

// Tenant and ring names become storage keys (file map keys, NATS KV key tokens)
// and policy subjects, so they are one safe token: no dots, slashes or wildcards.
const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export function assertTenant(tenant: string): void {
  if (typeof tenant !== 'string' || !NAME.test(tenant)) {
    throw new InvalidArgumentError('tenant must be 1-64 characters of letters, digits, "_" or "-", starting with a letter or digit');
  }
}

export function assertRing(ring: string): void {
  if (typeof ring !== 'string' || !NAME.test(ring)) {
    throw new InvalidArgumentError('ring must be 1-64 characters of letters, digits, "_" or "-", starting with a letter or digit');
  }
}

export const MAX_VERSION = 0xffff_ffff;

/** Envelope key_version: 1 … 2^32-1 (envelope-v1.md §1). */
export function assertVersion(version: number): void {
  if (!Number.isInteger(version) || version < 1 || version > MAX_VERSION) {
    throw new InvalidArgumentError('version must be an integer from 1 to 4294967295');
  }
}

const RECORD_KEYS = new Set(['tenant', 'ring', 'kind', 'alg', 'createdAt', 'generation', 'rotation', 'versions']);
const VERSION_KEYS = new Set(['version', 'state', 'createdAt', 'stateChangedAt', 'wrapped', 'sealCount']);
const ROTATION_KEYS = new Set(['rotateAfterMs', 'maxEnvelopes', 'propagationDelayMs']);

/** Largest rotateAfterMs / propagationDelayMs: ten years. */
export const MAX_POLICY_MS = 10 * 365 * 24 * 3600 * 1000;

/** Checks a rotation policy (INVALID_ARGUMENT naming the field); `alg` decides whether an envelope budget may be set. */
export function assertRotationPolicy(p: RotationPolicy, alg: KeyAlgByte): void {
  const ms = (v: unknown, name: string, min: number): void => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > MAX_POLICY_MS) {
      throw new InvalidArgumentError(`rotation policy: ${name} must be a whole number of milliseconds from ${min} to ${MAX_POLICY_MS}`);
    }
  };
  ms(p.rotateAfterMs, 'rotateAfter', 1000);
  ms(p.propagationDelayMs, 'propagationDelay', 0);
  if (p.propagationDelayMs >= p.rotateAfterMs) throw new InvalidArgumentError('rotation policy: propagationDelay must be shorter than rotateAfter');
  if (p.maxEnvelopes !== null) {
    if (alg !== 1) {
      throw new InvalidArgumentError(`rotation policy: an envelope budget applies to alg 1 rings only (this ring is alg ${alg}: ${alg === 2 ? '192-bit nonces need none' : 'HPKE seals under a fresh key each time'})`);
    }
    if (typeof p.maxEnvelopes !== 'number' || !Number.isSafeInteger(p.maxEnvelopes) || p.maxEnvelopes < 1) {
      throw new InvalidArgumentError('rotation policy: maxEnvelopes must be a positive integer');
    }
  }
}

/**
 * Checks a record read from storage or a backup before it is trusted: its
 * shape, the state invariants, and no field the record's tag would not cover.
 * `legacy` accepts a record written before generations existed (generation 0).
 */
export function assertRingRecord(value: unknown, opts: { legacy?: boolean } = {}): asserts value is KeyRingRecord {
  const r = value as KeyRingRecord;
  const bad = (what: string): never => {
    throw new InvalidArgumentError(`malformed key ring record: ${what}`);
  };
  if (typeof r !== 'object' || r === null || Array.isArray(r)) bad('not an object');
  for (const k of Object.keys(r)) if (!RECORD_KEYS.has(k)) bad(`unknown field ${JSON.stringify(k)}`);
  assertTenant(r.tenant);
  assertRing(r.ring);
  if (r.kind !== 'symmetric' && r.kind !== 'x25519') bad('kind');
  if (r.kind === 'symmetric' ? r.alg !== 1 && r.alg !== 2 : r.alg !== HPKE_ALG_BYTE) bad('alg');
  if (!Number.isFinite(r.createdAt)) bad('createdAt');
  if (r.generation === undefined && opts.legacy) {
    // written before records carried a generation
  } else if (!Number.isSafeInteger(r.generation) || r.generation < 1) bad('generation');
  if (r.rotation !== undefined) {
    if (typeof r.rotation !== 'object' || r.rotation === null) bad('rotation');
    for (const k of Object.keys(r.rotation)) if (!ROTATION_KEYS.has(k)) bad(`unknown rotation field ${JSON.stringify(k)}`);
    try {
      assertRotationPolicy(r.rotation, r.alg);
    } catch (err) {
      bad((err as Error).message);
    }
  }
  if (!Array.isArray(r.versions) || r.versions.length === 0) bad('versions');
  let last = 0;
  let primaries = 0;
  for (const v of r.versions) {
    if (typeof v !== 'object' || v === null) bad('version entry');
    for (const k of Object.keys(v)) if (!VERSION_KEYS.has(k)) bad(`unknown version field ${JSON.stringify(k)}`);
    assertVersion(v.version);
    if (v.version <= last) bad('versions out of order');
    last = v.version;
    if (!VERSION_STATES.includes(v.state)) bad('state');
    if (v.state === 'primary') primaries++;
    if (v.state === 'destroyed' ? v.wrapped !== null : typeof v.wrapped !== 'string') bad('wrapped key');
    if (!Number.isFinite(v.createdAt) || !Number.isFinite(v.stateChangedAt)) bad('timestamps');
    if (v.sealCount !== undefined && (!Number.isSafeInteger(v.sealCount) || v.sealCount < 0)) bad('sealCount');
  }
  if (primaries !== 1) bad('exactly one primary version required');
}
