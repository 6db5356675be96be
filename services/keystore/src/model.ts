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
 * The alg of a new symmetric ring when none is asked for: XChaCha20-Poly1305
 * (192-bit random nonces), so the random-nonce budget of alg 1 (about 2^32
 * envelopes per key version, envelope-v1 §4) stops being a limit in practice.
 * Alg 1 stays available when asked for.
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
}

export interface KeyRingRecord {
  tenant: string;
  ring: string;
  kind: KeyKindName;
  alg: KeyAlgByte;
  createdAt: number;
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
}

export interface KeyRingView {
  tenant: string;
  ring: string;
  kind: KeyKindName;
  alg: KeyAlgByte;
  primaryVersion: number;
  createdAt: number;
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

/** Checks a record read from storage or a backup before it is trusted. */
export function assertRingRecord(value: unknown): asserts value is KeyRingRecord {
  const r = value as KeyRingRecord;
  const bad = (what: string): never => {
    throw new InvalidArgumentError(`malformed key ring record: ${what}`);
  };
  if (typeof r !== 'object' || r === null) bad('not an object');
  assertTenant(r.tenant);
  assertRing(r.ring);
  if (r.kind !== 'symmetric' && r.kind !== 'x25519') bad('kind');
  if (r.kind === 'symmetric' ? r.alg !== 1 && r.alg !== 2 : r.alg !== HPKE_ALG_BYTE) bad('alg');
  if (!Number.isFinite(r.createdAt)) bad('createdAt');
  if (!Array.isArray(r.versions) || r.versions.length === 0) bad('versions');
  let last = 0;
  let primaries = 0;
  for (const v of r.versions) {
    assertVersion(v.version);
    if (v.version <= last) bad('versions out of order');
    last = v.version;
    if (!VERSION_STATES.includes(v.state)) bad('state');
    if (v.state === 'primary') primaries++;
    if (v.state === 'destroyed' ? v.wrapped !== null : typeof v.wrapped !== 'string') bad('wrapped key');
    if (!Number.isFinite(v.createdAt) || !Number.isFinite(v.stateChangedAt)) bad('timestamps');
  }
  if (primaries !== 1) bad('exactly one primary version required');
}
