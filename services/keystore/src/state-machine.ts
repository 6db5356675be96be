// Version states and staged rotation (DESIGN.md "Keys"), as pure functions on
// a KeyRingRecord: each returns a new record or throws InvalidTransitionError
// (FAILED_PRECONDITION) with a message saying what is allowed instead.
//
//   pending ──promote──▶ primary ──(promote of another)──▶ decrypt-only
//   pending / decrypt-only ──disable──▶ disabled ──destroy──▶ destroyed
//   disabled ──enable──▶ decrypt-only;  decrypt-only ──promote──▶ primary (roll back)
//
// Invariant kept by every function: exactly one primary per ring.
import { InvalidTransitionError, NotFoundError } from './errors.js';
import { MAX_VERSION, type KeyAlgByte, type KeyKindName, type KeyRingRecord, type KeyVersionRecord } from './model.js';

/** Produces the wrapped key for a new version (the wrap AAD binds the version number). */
export type WrapNewKey = (version: number) => string;

export function newRing(
  args: { tenant: string; ring: string; kind: KeyKindName; alg: KeyAlgByte },
  now: number,
  wrapNew: WrapNewKey,
): KeyRingRecord {
  return {
    tenant: args.tenant,
    ring: args.ring,
    kind: args.kind,
    alg: args.alg,
    createdAt: now,
    generation: 1,
    versions: [{ version: 1, state: 'primary', createdAt: now, stateChangedAt: now, wrapped: wrapNew(1) }],
  };
}

/** Adds a pending version. One pending version at a time keeps rotation staged. */
export function rotate(ring: KeyRingRecord, now: number, wrapNew: WrapNewKey): { ring: KeyRingRecord; added: KeyVersionRecord } {
  const pending = ring.versions.find((v) => v.state === 'pending');
  if (pending) {
    throw new InvalidTransitionError(
      `${label(ring)} already has pending version ${pending.version}: promote or disable it before rotating again`,
    );
  }
  const next = Math.max(...ring.versions.map((v) => v.version)) + 1;
  if (next > MAX_VERSION) throw new InvalidTransitionError(`${label(ring)} has used every version number`);
  const added: KeyVersionRecord = { version: next, state: 'pending', createdAt: now, stateChangedAt: now, wrapped: wrapNew(next) };
  return { ring: { ...ring, versions: [...ring.versions, added] }, added };
}

/** pending or decrypt-only -> primary; the old primary becomes decrypt-only. */
export function promote(ring: KeyRingRecord, version: number, now: number): { ring: KeyRingRecord; previousPrimary: number } {
  const target = find(ring, version);
  if (target.state === 'primary') throw new InvalidTransitionError(`${label(ring)} version ${version} is already primary`);
  if (target.state !== 'pending' && target.state !== 'decrypt-only') {
    throw new InvalidTransitionError(
      `${label(ring)} version ${version} is ${target.state}: only a pending or decrypt-only version can be promoted` +
        (target.state === 'disabled' ? ' (enable it first)' : ''),
    );
  }
  const old = ring.versions.find((v) => v.state === 'primary');
  if (!old) throw new InvalidTransitionError(`${label(ring)} has no primary version`); // unreachable: invariant
  const versions = ring.versions.map((v): KeyVersionRecord => {
    if (v.version === version) return { ...v, state: 'primary', stateChangedAt: now };
    if (v.version === old.version) return { ...v, state: 'decrypt-only', stateChangedAt: now };
    return v;
  });
  return { ring: { ...ring, versions }, previousPrimary: old.version };
}

/** pending or decrypt-only -> disabled. The primary cannot be disabled: promote another first. */
export function disable(ring: KeyRingRecord, version: number, now: number): KeyRingRecord {
  const target = find(ring, version);
  if (target.state === 'primary') {
    throw new InvalidTransitionError(`${label(ring)} version ${version} is primary: promote another version before disabling it`);
  }
  if (target.state !== 'pending' && target.state !== 'decrypt-only') {
    throw new InvalidTransitionError(`${label(ring)} version ${version} is already ${target.state}`);
  }
  return setState(ring, version, 'disabled', now);
}

/** disabled -> decrypt-only (a disabled version is not lost until destroyed). */
export function enable(ring: KeyRingRecord, version: number, now: number): KeyRingRecord {
  const target = find(ring, version);
  if (target.state !== 'disabled') {
    throw new InvalidTransitionError(`${label(ring)} version ${version} is ${target.state}: only a disabled version can be enabled`);
  }
  return setState(ring, version, 'decrypt-only', now);
}

/** disabled -> destroyed, erasing the wrapped key bytes. Final. */
export function destroy(ring: KeyRingRecord, version: number, now: number): KeyRingRecord {
  const target = find(ring, version);
  if (target.state === 'destroyed') throw new InvalidTransitionError(`${label(ring)} version ${version} is already destroyed`);
  if (target.state !== 'disabled') {
    throw new InvalidTransitionError(`${label(ring)} version ${version} is ${target.state}: disable it before destroying it`);
  }
  const versions = ring.versions.map((v): KeyVersionRecord =>
    v.version === version ? { ...v, state: 'destroyed', stateChangedAt: now, wrapped: null } : v,
  );
  return { ...ring, versions };
}

export function find(ring: KeyRingRecord, version: number): KeyVersionRecord {
  const v = ring.versions.find((x) => x.version === version);
  if (!v) throw new NotFoundError(`${label(ring)} has no version ${version}`);
  return v;
}

function setState(ring: KeyRingRecord, version: number, state: KeyVersionRecord['state'], now: number): KeyRingRecord {
  return { ...ring, versions: ring.versions.map((v) => (v.version === version ? { ...v, state, stateChangedAt: now } : v)) };
}

function label(ring: KeyRingRecord): string {
  return `key ring ${ring.tenant}/${ring.ring}`;
}
