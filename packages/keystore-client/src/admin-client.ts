// Promise API over fle.keystore.v1.KeystoreAdminService, for `fle keys` and tests.
// Returns metadata only: the admin service never sends key bytes.
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import {
  KeyAlg,
  KeyKind,
  KeystoreAdminServiceClient,
  KeyVersionState,
  type CreateDeviceEnrollmentResponse,
  type CreateKeyRingResponse,
  type DestroyKeyVersionResponse,
  type DisableKeyVersionResponse,
  type EnableKeyVersionResponse,
  type KeyRingInfo,
  type KeyVersionInfo,
  type ListDevicesResponse,
  type ListKeyRingsResponse,
  type ListKeyVersionsResponse,
  type GetRotationPolicyResponse,
  type PromoteKeyVersionResponse,
  type RevokeDeviceResponse,
  type RotateKeyRingResponse,
  type RotationPolicy as RotationPolicyMessage,
  type SetRotationPolicyResponse,
} from '@fle/schema/gen/fle/keystore/v1/keystore.js';
import { KeystorePermissionDeniedError, KeystoreResponseError, KeystoreUnavailableError } from './errors.js';
import { deviceSummary, devicesDenied, devicesUnavailable, type DeviceSummary } from './devices.js';
import { DEFAULT_CHANNEL_OPTIONS, classifyStatus } from './grpc-fetcher.js';
import { keystoreAddress, keystoreCredentials, type KeystoreConnectionOptions } from './keystore-key-provider.js';

export type VersionStateName = 'pending' | 'primary' | 'decrypt-only' | 'disabled' | 'destroyed';

/** Envelope alg of a ring: 1/2 symmetric (ChaCha20-/XChaCha20-Poly1305), 3 an X25519 key pair (HPKE). */
export type RingAlg = 1 | 2 | 3;

export interface KeyVersionSummary {
  tenant: string;
  ring: string;
  version: number;
  alg: RingAlg;
  state: VersionStateName;
  createdAt: string;
  stateChangedAt: string;
  /** Seals reported under this version (ReportSealCounts). */
  sealCount: number;
}

/** A ring's rotation policy (durations in milliseconds; `maxEnvelopes` null: no volume limit). */
export interface RotationPolicySummary {
  rotateAfterMs: number;
  maxEnvelopes: number | null;
  propagationDelayMs: number;
}

/** Where a ring stands against its rotation policy. */
export interface RotationStatusSummary {
  tenant: string;
  ring: string;
  /** null: rotated by hand only. */
  policy: RotationPolicySummary | null;
  primary: KeyVersionSummary;
  pending: KeyVersionSummary | null;
  /** When the primary is due by age (null without a policy). */
  rotateAt: string | null;
  /** When the pending version is due for promotion (null without one or without a policy). */
  promoteAt: string | null;
}

function policyOf(p: RotationPolicyMessage | undefined): RotationPolicySummary | null {
  if (!p) return null;
  return { rotateAfterMs: p.rotateAfterMs, maxEnvelopes: p.maxEnvelopes === 0 ? null : p.maxEnvelopes, propagationDelayMs: p.propagationDelayMs };
}

export interface KeyRingSummary {
  tenant: string;
  ring: string;
  alg: RingAlg;
  primaryVersion: number;
  createdAt: string;
}

const STATE_NAMES: Record<number, VersionStateName> = {
  [KeyVersionState.KEY_VERSION_STATE_PENDING]: 'pending',
  [KeyVersionState.KEY_VERSION_STATE_PRIMARY]: 'primary',
  [KeyVersionState.KEY_VERSION_STATE_DECRYPT_ONLY]: 'decrypt-only',
  [KeyVersionState.KEY_VERSION_STATE_DISABLED]: 'disabled',
  [KeyVersionState.KEY_VERSION_STATE_DESTROYED]: 'destroyed',
};

function algOf(alg: KeyAlg): RingAlg {
  return alg === KeyAlg.KEY_ALG_HPKE_X25519_CHACHA20_POLY1305 ? 3 : alg === KeyAlg.KEY_ALG_XCHACHA20_POLY1305 ? 2 : 1;
}

function version(v: KeyVersionInfo | undefined): KeyVersionSummary {
  if (!v) throw new KeystoreResponseError('keystore answered without a version');
  return {
    tenant: v.tenant,
    ring: v.ring,
    version: v.version,
    alg: algOf(v.alg),
    state: STATE_NAMES[v.state] ?? (String(v.state) as VersionStateName),
    createdAt: new Date(v.createdAtUnixMs).toISOString(),
    stateChangedAt: new Date(v.stateChangedAtUnixMs).toISOString(),
    sealCount: v.sealCount,
  };
}

function ring(r: KeyRingInfo): KeyRingSummary {
  return {
    tenant: r.tenant,
    ring: r.ring,
    alg: algOf(r.alg),
    primaryVersion: r.primaryVersion,
    createdAt: new Date(r.createdAtUnixMs).toISOString(),
  };
}

/** A one-time device enrollment token. `token` is a credential: hand it to the app, never log it. */
export interface DeviceEnrollment {
  tenant: string;
  token: string;
  enrollmentId: string;
  expiresAt: string;
}

export interface KeystoreAdminClientOptions extends KeystoreConnectionOptions {}

/** #call's ring name for device calls (not a valid ring name): errors then speak of the tenant's devices. */
const DEVICES = '~devices';

export class KeystoreAdminClient {
  readonly address: string;
  readonly #client: KeystoreAdminServiceClient;
  readonly #timeoutMs: number;

  constructor(opts: KeystoreAdminClientOptions) {
    this.address = keystoreAddress(opts.address);
    this.#client = new KeystoreAdminServiceClient(this.address, keystoreCredentials(opts), {
      ...DEFAULT_CHANNEL_OPTIONS,
      ...opts.channelOptions,
    });
    this.#timeoutMs = opts.rpcTimeoutMs ?? 5000;
  }

  /**
   * `alg: 3` creates an X25519 key ring (key pairs for HPKE, envelope alg 3/4);
   * without `alg` the keystore's default applies (alg 2, XChaCha20-Poly1305).
   */
  async createKeyRing(tenant: string, ringName: string, opts: { alg?: RingAlg } = {}): Promise<KeyVersionSummary> {
    const x25519 = opts.alg === 3;
    const alg = x25519
      ? KeyAlg.KEY_ALG_HPKE_X25519_CHACHA20_POLY1305
      : opts.alg === 2
        ? KeyAlg.KEY_ALG_XCHACHA20_POLY1305
        : opts.alg === 1
          ? KeyAlg.KEY_ALG_CHACHA20_POLY1305
          : KeyAlg.KEY_ALG_UNSPECIFIED;
    const kind = x25519 ? KeyKind.KEY_KIND_X25519 : KeyKind.KEY_KIND_SYMMETRIC;
    const res = await this.#call<CreateKeyRingResponse>(tenant, ringName, (cb) => this.#client.createKeyRing({ tenant, ring: ringName, kind, alg }, new Metadata(), this.#opts(), cb));
    return version(res.version);
  }

  async rotate(tenant: string, ringName: string): Promise<KeyVersionSummary> {
    const res = await this.#call<RotateKeyRingResponse>(tenant, ringName, (cb) => this.#client.rotateKeyRing({ tenant, ring: ringName }, new Metadata(), this.#opts(), cb));
    return version(res.version);
  }

  async promote(tenant: string, ringName: string, v: number): Promise<{ version: KeyVersionSummary; previousPrimary: KeyVersionSummary }> {
    const res = await this.#call<PromoteKeyVersionResponse>(tenant, ringName, (cb) => this.#client.promoteKeyVersion({ tenant, ring: ringName, version: v }, new Metadata(), this.#opts(), cb));
    return { version: version(res.version), previousPrimary: version(res.previousPrimary) };
  }

  async disable(tenant: string, ringName: string, v: number): Promise<KeyVersionSummary> {
    const res = await this.#call<DisableKeyVersionResponse>(tenant, ringName, (cb) => this.#client.disableKeyVersion({ tenant, ring: ringName, version: v }, new Metadata(), this.#opts(), cb));
    return version(res.version);
  }

  async enable(tenant: string, ringName: string, v: number): Promise<KeyVersionSummary> {
    const res = await this.#call<EnableKeyVersionResponse>(tenant, ringName, (cb) => this.#client.enableKeyVersion({ tenant, ring: ringName, version: v }, new Metadata(), this.#opts(), cb));
    return version(res.version);
  }

  async destroy(tenant: string, ringName: string, v: number): Promise<KeyVersionSummary> {
    const res = await this.#call<DestroyKeyVersionResponse>(tenant, ringName, (cb) => this.#client.destroyKeyVersion({ tenant, ring: ringName, version: v }, new Metadata(), this.#opts(), cb));
    return version(res.version);
  }

  async listVersions(tenant: string, ringName: string): Promise<KeyVersionSummary[]> {
    const res = await this.#call<ListKeyVersionsResponse>(tenant, ringName, (cb) => this.#client.listKeyVersions({ tenant, ring: ringName }, new Metadata(), this.#opts(), cb));
    return res.versions.map(version);
  }

  /** Sets the ring's rotation policy; `null` removes it (rotation by hand only). */
  async setRotationPolicy(tenant: string, ringName: string, policy: RotationPolicySummary | null): Promise<RotationPolicySummary | null> {
    const msg = policy === null ? undefined : { rotateAfterMs: policy.rotateAfterMs, maxEnvelopes: policy.maxEnvelopes ?? 0, propagationDelayMs: policy.propagationDelayMs };
    const res = await this.#call<SetRotationPolicyResponse>(tenant, ringName, (cb) =>
      this.#client.setRotationPolicy({ tenant, ring: ringName, policy: msg }, new Metadata(), this.#opts(), cb),
    );
    return policyOf(res.policy);
  }

  async getRotationPolicy(tenant: string, ringName: string): Promise<RotationStatusSummary> {
    const res = await this.#call<GetRotationPolicyResponse>(tenant, ringName, (cb) =>
      this.#client.getRotationPolicy({ tenant, ring: ringName }, new Metadata(), this.#opts(), cb),
    );
    return {
      tenant,
      ring: ringName,
      policy: policyOf(res.policy),
      primary: version(res.primary),
      pending: res.pending ? version(res.pending) : null,
      rotateAt: res.rotateAtUnixMs ? new Date(res.rotateAtUnixMs).toISOString() : null,
      promoteAt: res.promoteAtUnixMs ? new Date(res.promoteAtUnixMs).toISOString() : null,
    };
  }

  /** Rings of `tenant`, or of every tenant the caller administers when undefined. */
  async listRings(tenant?: string): Promise<KeyRingSummary[]> {
    const res = await this.#call<ListKeyRingsResponse>(tenant ?? '*', '*', (cb) => this.#client.listKeyRings({ tenant: tenant ?? '' }, new Metadata(), this.#opts(), cb));
    return res.rings.map(ring);
  }

  /** A one-time token an app redeems (EnrollDevice) within `ttlMs` (default the keystore's, 10 minutes). */
  async createDeviceEnrollment(tenant: string, opts: { ttlMs?: number } = {}): Promise<DeviceEnrollment> {
    const res = await this.#call<CreateDeviceEnrollmentResponse>(tenant, DEVICES, (cb) =>
      this.#client.createDeviceEnrollment({ tenant, ttlMs: opts.ttlMs ?? 0 }, new Metadata(), this.#opts(), cb),
    );
    return { tenant, token: res.token, enrollmentId: res.enrollmentId, expiresAt: new Date(res.expiresAtUnixMs).toISOString() };
  }

  /** The tenant's devices, revoked ones included. */
  async listDevices(tenant: string): Promise<DeviceSummary[]> {
    const res = await this.#call<ListDevicesResponse>(tenant, DEVICES, (cb) => this.#client.listDevices({ tenant }, new Metadata(), this.#opts(), cb));
    return res.devices.map(deviceSummary);
  }

  /** Active -> revoked (final); openers stop accepting it within their device cache TTL. */
  async revokeDevice(tenant: string, deviceId: string): Promise<DeviceSummary> {
    const res = await this.#call<RevokeDeviceResponse>(tenant, DEVICES, (cb) => this.#client.revokeDevice({ tenant, deviceId }, new Metadata(), this.#opts(), cb));
    if (!res.device) throw new KeystoreResponseError('keystore answered without a device');
    return deviceSummary(res.device);
  }

  close(): void {
    this.#client.close();
  }

  #opts(): { deadline: number } {
    return { deadline: Date.now() + this.#timeoutMs };
  }

  #call<T>(tenant: string, ringName: string, start: (cb: (err: ServiceError | null, res: T) => void) => void): Promise<T> {
    return new Promise((resolve, reject) => {
      start((err, res) => {
        if (!err) {
          resolve(res);
          return;
        }
        const kind = classifyStatus(err.code);
        const devices = ringName === DEVICES;
        if (kind === 'denied') reject(devices ? devicesDenied(tenant, err) : new KeystorePermissionDeniedError(tenant, ringName, { cause: err }));
        else if (err.code === status.UNAVAILABLE || err.code === status.DEADLINE_EXCEEDED) reject(devices ? devicesUnavailable(tenant, err) : new KeystoreUnavailableError(tenant, ringName, { cause: err }));
        else reject(Object.assign(new KeystoreResponseError(`${status[err.code]}: ${err.details}`, { cause: err }), { grpcCode: err.code }));
      });
    });
  }
}
