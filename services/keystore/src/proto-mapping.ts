// Between the keystore's records and the fle.keystore.v1 messages.
import {
  DeviceState,
  KeyAlg,
  KeyKind,
  KeyVersionState,
  type DeviceInfo,
  type KeyRingInfo,
  type KeyVersionInfo,
  type RotationPolicy as RotationPolicyMessage,
} from '@fle/schema/gen/fle/keystore/v1/keystore.js';
import type { DeviceView } from './device-model.js';
import { InvalidArgumentError } from './errors.js';
import {
  HPKE_ALG_BYTE,
  type KeyAlgByte,
  type KeyKindName,
  type KeyRingView,
  type KeyVersionView,
  type RotationPolicy,
  type VersionState,
} from './model.js';

const STATE: Record<VersionState, KeyVersionState> = {
  pending: KeyVersionState.KEY_VERSION_STATE_PENDING,
  primary: KeyVersionState.KEY_VERSION_STATE_PRIMARY,
  'decrypt-only': KeyVersionState.KEY_VERSION_STATE_DECRYPT_ONLY,
  disabled: KeyVersionState.KEY_VERSION_STATE_DISABLED,
  destroyed: KeyVersionState.KEY_VERSION_STATE_DESTROYED,
};

export function stateToProto(state: VersionState): KeyVersionState {
  return STATE[state];
}

export function stateFromProto(state: KeyVersionState): VersionState | undefined {
  return (Object.keys(STATE) as VersionState[]).find((k) => STATE[k] === state);
}

export function kindToProto(kind: KeyKindName): KeyKind {
  return kind === 'x25519' ? KeyKind.KEY_KIND_X25519 : KeyKind.KEY_KIND_SYMMETRIC;
}

export function algToProto(alg: KeyAlgByte): KeyAlg {
  if (alg === HPKE_ALG_BYTE) return KeyAlg.KEY_ALG_HPKE_X25519_CHACHA20_POLY1305;
  return alg === 2 ? KeyAlg.KEY_ALG_XCHACHA20_POLY1305 : KeyAlg.KEY_ALG_CHACHA20_POLY1305;
}

export function kindFromProto(kind: KeyKind): KeyKindName {
  if (kind === KeyKind.KEY_KIND_UNSPECIFIED || kind === KeyKind.KEY_KIND_SYMMETRIC) return 'symmetric';
  if (kind === KeyKind.KEY_KIND_X25519) return 'x25519';
  throw new InvalidArgumentError('kind must be KEY_KIND_SYMMETRIC or KEY_KIND_X25519');
}

/** Undefined for KEY_ALG_UNSPECIFIED: the kind's default (model.ts algForKind) applies. */
export function algFromProto(alg: KeyAlg): KeyAlgByte | undefined {
  if (alg === KeyAlg.KEY_ALG_UNSPECIFIED) return undefined;
  if (alg === KeyAlg.KEY_ALG_CHACHA20_POLY1305) return 1;
  if (alg === KeyAlg.KEY_ALG_XCHACHA20_POLY1305) return 2;
  if (alg === KeyAlg.KEY_ALG_HPKE_X25519_CHACHA20_POLY1305) return HPKE_ALG_BYTE;
  throw new InvalidArgumentError('alg must be KEY_ALG_CHACHA20_POLY1305, KEY_ALG_XCHACHA20_POLY1305 or KEY_ALG_HPKE_X25519_CHACHA20_POLY1305');
}

export function versionInfo(v: KeyVersionView): KeyVersionInfo {
  return {
    tenant: v.tenant,
    ring: v.ring,
    version: v.version,
    kind: kindToProto(v.kind),
    alg: algToProto(v.alg),
    state: stateToProto(v.state),
    createdAtUnixMs: v.createdAt,
    stateChangedAtUnixMs: v.stateChangedAt,
    sealCount: v.sealCount,
  };
}

/** max_envelopes 0 means no budget; the ranges are checked by model.ts assertRotationPolicy. */
export function rotationFromProto(p: RotationPolicyMessage): RotationPolicy {
  return { rotateAfterMs: p.rotateAfterMs, maxEnvelopes: p.maxEnvelopes === 0 ? null : p.maxEnvelopes, propagationDelayMs: p.propagationDelayMs };
}

export function rotationToProto(p: RotationPolicy): RotationPolicyMessage {
  return { rotateAfterMs: p.rotateAfterMs, maxEnvelopes: p.maxEnvelopes ?? 0, propagationDelayMs: p.propagationDelayMs };
}

export function ringInfo(r: KeyRingView): KeyRingInfo {
  return {
    tenant: r.tenant,
    ring: r.ring,
    kind: kindToProto(r.kind),
    alg: algToProto(r.alg),
    primaryVersion: r.primaryVersion,
    createdAtUnixMs: r.createdAt,
  };
}

export function deviceInfo(d: DeviceView): DeviceInfo {
  return {
    tenant: d.tenant,
    deviceId: d.id,
    x25519PublicKey: Buffer.from(d.publicKey),
    label: d.label,
    state: d.state === 'active' ? DeviceState.DEVICE_STATE_ACTIVE : DeviceState.DEVICE_STATE_REVOKED,
    enrolledAtUnixMs: d.enrolledAt,
    revokedAtUnixMs: d.revokedAt ?? 0,
    enrollmentId: d.enrollment,
  };
}
