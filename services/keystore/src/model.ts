// What the keystore stores: key rings and their versions, with each key
// wrapped under the master key (wrap.ts). These records are the storage
// format of every backend and of backups, so they are plain JSON.
import { InvalidArgumentError } from './errors.js';

/** DESIGN.md "Keys": pending -> primary -> decrypt-only -> disabled -> destroyed. */
export type VersionState = 'pending' | 'primary' | 'decrypt-only' | 'disabled' | 'destroyed';

export const VERSION_STATES: readonly VersionState[] = ['pending', 'primary', 'decrypt-only', 'disabled', 'destroyed'];

/** Only symmetric keys exist today; `x25519` key pairs are a later issue. */
export type KeyKindName = 'symmetric';

/** Envelope alg byte (envelope-v1.md §1). */
export type SymmetricAlgByte = 1 | 2;

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
  alg: SymmetricAlgByte;
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
  alg: SymmetricAlgByte;
  state: VersionState;
  createdAt: number;
  stateChangedAt: number;
}

export interface KeyRingView {
  tenant: string;
  ring: string;
  kind: KeyKindName;
  alg: SymmetricAlgByte;
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
  if (r.kind !== 'symmetric') bad('kind');
  if (r.alg !== 1 && r.alg !== 2) bad('alg');
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
