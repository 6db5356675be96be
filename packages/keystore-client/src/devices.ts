// Devices enrolled in the keystore (docs/devices.md): the X25519 public keys
// a tenant's alg 4 envelopes may be sealed by (docs/envelope-hpke.md §5).
//
// - KeystoreDeviceClient: the two service RPCs. `enroll` redeems a one-time
//   token for a device public key (the gateway's edge, an `enroll` identity);
//   `getDevices` reads a tenant's active devices (a `devices`/`fetch` identity).
// - KeystoreDeviceRegistry: GetDevices behind a cache, as the key cache
//   (caching-key-provider.ts) keeps keys. A tenant's list is served for
//   `ttlMs` after its fetch started, then fetched again before it is used, so a
//   revocation reaches this process within the TTL. Concurrent misses share one
//   RPC. While the keystore is unreachable the last list is served up to TTL +
//   grace after its fetch (then KeystoreUnavailableError), with a backoff
//   between attempts; PERMISSION_DENIED drops the list. A sender key not in a
//   list (a device enrolled since, or a bogus key) refetches the list at most
//   once per `unknownSenderRefetchMs` per tenant: the negative answer is what
//   is cached briefly, so a new device works within that time and a flood of
//   unknown keys costs one RPC per tenant and interval.
// - KeystoreSenderPolicy: field-crypto's (synchronous) SenderPolicy over the
//   registry, for FieldCipher's `hpke.senders`. The opener awaits
//   `prepare(tenant)` before opening a tenant's message; see its comment.
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import type { SenderPolicy } from '@fle/field-crypto';
import {
  DeviceState,
  KeystoreServiceClient,
  type DeviceInfo,
  type EnrollDeviceResponse,
  type GetDevicesResponse,
} from '@fle/schema/gen/fle/keystore/v1/keystore.js';
import { KeystoreClientError, KeystorePermissionDeniedError, KeystoreResponseError, KeystoreUnavailableError } from './errors.js';
import { classifyStatus, DEFAULT_CHANNEL_OPTIONS } from './grpc-fetcher.js';
import { keystoreAddress, keystoreCredentials, type KeystoreConnectionOptions } from './keystore-key-provider.js';

/** A device as the keystore describes it (nothing secret). */
export interface DeviceSummary {
  tenant: string;
  id: string;
  /** The 32-byte X25519 public key, base64url (no padding). */
  publicKey: string;
  label: string;
  state: 'active' | 'revoked';
  enrolledAt: string;
  /** null while active. */
  revokedAt: string | null;
  /** The enrollment (token id) it was enrolled with. */
  enrollmentId: string;
}

/** What the registry keeps per tenant. */
export interface TenantDeviceList {
  readonly tenant: string;
  /** Active devices only. */
  readonly devices: ReadonlyArray<{ readonly id: string; readonly publicKey: Uint8Array }>;
  /** True once the tenant enrolled any device (revoked ones included): alg 3 is refused from then on. */
  readonly senderRequired: boolean;
}

/** One GetDevices call; the registry makes its own gRPC client unless tests inject this. */
export type DeviceListFetch = (tenant: string) => Promise<TenantDeviceList>;

export type DeviceEnrollmentRefusal = 'invalid-token' | 'expired-token' | 'used-token' | 'invalid-request' | 'already-enrolled' | 'revoked-key' | 'limit';

/**
 * The keystore refused an enrollment for a reason the app can act on (a new
 * token, a new key pair). `grpcCode` is the keystore's status, for the edge to
 * pass on; the message is the keystore's and holds no token secret.
 */
export class DeviceEnrollmentError extends KeystoreClientError {
  constructor(readonly reason: DeviceEnrollmentRefusal, readonly grpcCode: number, message: string, options?: { cause?: unknown }) {
    super('DEVICE_ENROLLMENT_REFUSED', message, options);
  }
}

/** A ring-less wording of the keystore client's errors (they name "tenant ... ring ..."). */
export function devicesUnavailable(tenant: string, cause: unknown): KeystoreUnavailableError {
  const e = new KeystoreUnavailableError(tenant, '', { cause });
  e.message = `keystore unavailable for the devices of tenant ${JSON.stringify(tenant)}`;
  return e;
}

export function devicesDenied(tenant: string, cause: unknown): KeystorePermissionDeniedError {
  const e = new KeystorePermissionDeniedError(tenant, '', { cause });
  e.message = `keystore denied access to the devices of tenant ${JSON.stringify(tenant)}`;
  return e;
}

export function deviceSummary(d: DeviceInfo): DeviceSummary {
  return {
    tenant: d.tenant,
    id: d.deviceId,
    publicKey: Buffer.from(d.x25519PublicKey).toString('base64url'),
    label: d.label,
    state: d.state === DeviceState.DEVICE_STATE_ACTIVE ? 'active' : 'revoked',
    enrolledAt: new Date(d.enrolledAtUnixMs).toISOString(),
    revokedAt: d.revokedAtUnixMs ? new Date(d.revokedAtUnixMs).toISOString() : null,
    enrollmentId: d.enrollmentId,
  };
}

/** The keystore's reasons (services/keystore device-model.ts messages) as the app's. */
function refusalOf(err: ServiceError): DeviceEnrollmentRefusal | undefined {
  switch (err.code) {
    case status.PERMISSION_DENIED:
      if (/^enrollment token is not valid/.test(err.details)) return 'invalid-token';
      if (/^enrollment token \S+ expired/.test(err.details)) return 'expired-token';
      if (/^enrollment token \S+ was already used/.test(err.details)) return 'used-token';
      return undefined; // the policy: this identity may not enroll
    case status.INVALID_ARGUMENT:
      return 'invalid-request';
    case status.ALREADY_EXISTS:
      return 'already-enrolled';
    case status.FAILED_PRECONDITION:
      return 'revoked-key';
    case status.RESOURCE_EXHAUSTED:
      return 'limit';
    default:
      return undefined;
  }
}

/**
 * const devices = new KeystoreDeviceClient({ tls: pki.files('gateway') });
 * const d = await devices.enroll({ tenant, token, publicKey });
 */
export class KeystoreDeviceClient {
  readonly address: string;
  readonly #client: KeystoreServiceClient;
  readonly #timeoutMs: number;

  constructor(opts: KeystoreConnectionOptions) {
    this.address = keystoreAddress(opts.address);
    this.#client = new KeystoreServiceClient(this.address, keystoreCredentials(opts), { ...DEFAULT_CHANNEL_OPTIONS, ...opts.channelOptions });
    this.#timeoutMs = opts.rpcTimeoutMs ?? 2000;
  }

  /**
   * Redeems a one-time enrollment token for the device's X25519 public key.
   * DeviceEnrollmentError: the token or key was refused (reason, grpcCode);
   * KeystorePermissionDeniedError: this identity may not enroll for the tenant;
   * KeystoreUnavailableError: the keystore cannot be reached.
   */
  enroll(req: { tenant: string; token: string; publicKey: Uint8Array; label?: string }): Promise<DeviceSummary> {
    return new Promise((resolve, reject) => {
      this.#client.enrollDevice(
        { tenant: req.tenant, token: req.token, x25519PublicKey: Buffer.from(req.publicKey), label: req.label ?? '' },
        new Metadata(),
        { deadline: Date.now() + this.#timeoutMs },
        (err, res: EnrollDeviceResponse) => {
          if (!err) {
            if (!res.device || res.device.tenant !== req.tenant) reject(new KeystoreResponseError('keystore enrollment response names no device of this tenant'));
            else resolve(deviceSummary(res.device));
            return;
          }
          const reason = refusalOf(err);
          if (reason) reject(new DeviceEnrollmentError(reason, err.code, err.details, { cause: err }));
          else reject(failure(err, req.tenant));
        },
      );
    });
  }

  /** The tenant's active devices (uncached: KeystoreDeviceRegistry caches). */
  getDevices(tenant: string): Promise<TenantDeviceList> {
    return new Promise((resolve, reject) => {
      this.#client.getDevices({ tenant }, new Metadata(), { deadline: Date.now() + this.#timeoutMs }, (err, res: GetDevicesResponse) => {
        if (err) {
          reject(failure(err, tenant));
          return;
        }
        try {
          resolve(checkedList(res, tenant));
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  close(): void {
    this.#client.close();
  }
}

function failure(err: ServiceError, tenant: string): Error {
  const kind = classifyStatus(err.code);
  if (kind === 'unavailable') return devicesUnavailable(tenant, err);
  if (kind === 'denied') return devicesDenied(tenant, err);
  return Object.assign(new KeystoreResponseError(`${status[err.code] ?? err.code}: ${err.details}`, { cause: err }), { grpcCode: err.code });
}

/** A list is used only if it is what was asked for: this tenant's active devices, 32-byte keys. */
function checkedList(res: GetDevicesResponse, tenant: string): TenantDeviceList {
  const devices = res.devices.map((d) => {
    if (d.tenant !== tenant) throw new KeystoreResponseError(`keystore device list for ${tenant} names another tenant`);
    if (d.state !== DeviceState.DEVICE_STATE_ACTIVE) throw new KeystoreResponseError(`keystore device list for ${tenant} holds a device that is not active`);
    if (d.x25519PublicKey.length !== 32) throw new KeystoreResponseError(`keystore device list for ${tenant}: a public key is not 32 bytes`);
    return { id: d.deviceId, publicKey: new Uint8Array(d.x25519PublicKey) };
  });
  // A tenant with active devices requires senders whatever the flag says.
  return { tenant, devices, senderRequired: res.senderRequired || devices.length > 0 };
}

export interface DeviceCacheOptions {
  /** How long a tenant's list is used without asking again: a revocation takes effect within it. Default 30 000 ms. */
  ttlMs?: number;
  /** How much longer the last list is used while the keystore is unreachable. Default 300 000 ms. */
  graceMs?: number;
  /** A sender key not in the list refetches it at most this often per tenant. Default 1000 ms. */
  unknownSenderRefetchMs?: number;
  /** Backoff between fetch attempts after a keystore failure. Default 100 ms doubling to 2000 ms. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Tenants kept at most (the least recently fetched goes first). Default 10 000. */
  maxTenants?: number;
  /** Clock (ms); tests inject one. */
  now?: () => number;
}

export interface KeystoreDeviceRegistryOptions extends KeystoreConnectionOptions, DeviceCacheOptions {
  /** Tests: stands in for the keystore (no connection is made). */
  fetch?: DeviceListFetch;
}

interface Entry {
  readonly list: TenantDeviceList;
  /** hex(public key) -> device id. */
  readonly byKey: ReadonlyMap<string, string>;
  /** When its fetch started. */
  readonly at: number;
}

/** A tenant's devices as the registry hands them out. */
export interface TenantDevices {
  readonly tenant: string;
  readonly senderRequired: boolean;
  /** Active devices. */
  readonly devices: TenantDeviceList['devices'];
  /** The id of the active device with this public key, or undefined. */
  deviceOf(publicKey: Uint8Array): string | undefined;
}

/**
 * const registry = new KeystoreDeviceRegistry({ tls: pki.files('processor'), ttlMs: 30_000 });
 * const senders = new KeystoreSenderPolicy(registry);
 */
export class KeystoreDeviceRegistry {
  readonly address: string;
  readonly ttlMs: number;
  readonly graceMs: number;
  readonly unknownSenderRefetchMs: number;
  readonly #client: KeystoreDeviceClient | undefined;
  readonly #fetch: DeviceListFetch;
  readonly #now: () => number;
  readonly #backoffInitial: number;
  readonly #backoffMax: number;
  readonly #maxTenants: number;
  readonly #cache = new Map<string, Entry>();
  readonly #inflight = new Map<string, Promise<Entry>>();
  #backoffMs = 0;
  #retryAt = 0;

  constructor(opts: KeystoreDeviceRegistryOptions) {
    this.address = keystoreAddress(opts.address);
    this.ttlMs = opts.ttlMs ?? 30_000;
    this.graceMs = opts.graceMs ?? 300_000;
    this.unknownSenderRefetchMs = opts.unknownSenderRefetchMs ?? 1000;
    if (!(this.ttlMs > 0) || !(this.graceMs >= 0) || !(this.unknownSenderRefetchMs >= 0)) {
      throw new RangeError('ttlMs must be positive, graceMs and unknownSenderRefetchMs not negative');
    }
    this.#backoffInitial = opts.backoff?.initialMs ?? 100;
    this.#backoffMax = Math.max(this.#backoffInitial, opts.backoff?.maxMs ?? 2000);
    this.#maxTenants = opts.maxTenants ?? 10_000;
    this.#now = opts.now ?? Date.now;
    if (opts.fetch) {
      this.#fetch = opts.fetch;
    } else {
      const client = new KeystoreDeviceClient(opts);
      this.#client = client;
      this.#fetch = (tenant) => client.getDevices(tenant);
    }
  }

  /** The tenant's active devices: from the cache within the TTL, else fetched (see the file comment for outages). */
  async devices(tenant: string): Promise<TenantDevices> {
    const cached = this.#cache.get(tenant);
    if (cached && this.#now() - cached.at < this.ttlMs) return view(cached);
    return view(await this.#load(tenant, cached));
  }

  /**
   * The id of the tenant's active device with this public key. A key not in
   * the list refetches it first when the list is at least
   * `unknownSenderRefetchMs` old (a device enrolled since).
   */
  async deviceOf(tenant: string, publicKey: Uint8Array): Promise<string | undefined> {
    const d = await this.devices(tenant);
    const id = d.deviceOf(publicKey);
    if (id !== undefined) return id;
    return (await this.refreshAfterUnknownSender(tenant)) ? (await this.devices(tenant)).deviceOf(publicKey) : undefined;
  }

  /**
   * After a sender key was not found: refetches the tenant's list unless it
   * was fetched less than `unknownSenderRefetchMs` ago. True when a fetch was
   * made and the list changed (a retry may now succeed).
   */
  async refreshAfterUnknownSender(tenant: string): Promise<boolean> {
    const cached = this.#cache.get(tenant);
    if (cached && this.#now() - cached.at < this.unknownSenderRefetchMs) return false;
    const fresh = await this.#load(tenant, cached);
    return cached === undefined || !sameList(cached.list, fresh.list);
  }

  /**
   * The cached list without waiting: undefined when there is none, or it is
   * older than TTL + grace. An entry past its TTL starts a background refetch.
   */
  cached(tenant: string): TenantDevices | undefined {
    const e = this.#cache.get(tenant);
    if (!e) return undefined;
    const age = this.#now() - e.at;
    if (age >= this.ttlMs) this.#background(tenant);
    return age < this.ttlMs + this.graceMs ? view(e) : undefined;
  }

  /** A background refetch (nothing waits for it; its failure reaches the next caller that waits). */
  #background(tenant: string): void {
    if (this.#inflight.has(tenant) || this.#now() < this.#retryAt) return;
    this.#load(tenant, this.#cache.get(tenant)).catch(() => undefined);
  }

  /** Forgets every tenant's list. */
  clear(): void {
    this.#cache.clear();
  }

  close(): void {
    this.clear();
    this.#client?.close();
  }

  async #load(tenant: string, cached: Entry | undefined): Promise<Entry> {
    if (this.#now() < this.#retryAt && !this.#inflight.has(tenant)) {
      return this.#staleOr(cached, devicesUnavailable(tenant, new Error('backing off after a keystore failure')));
    }
    try {
      return await this.#flight(tenant);
    } catch (err) {
      if (err instanceof KeystoreUnavailableError) return this.#staleOr(this.#cache.get(tenant), err);
      throw err;
    }
  }

  #staleOr(cached: Entry | undefined, err: Error): Entry {
    if (cached && this.#now() - cached.at < this.ttlMs + this.graceMs) return cached;
    throw err;
  }

  /** Single-flight: one GetDevices per tenant however many callers wait. */
  #flight(tenant: string): Promise<Entry> {
    let flight = this.#inflight.get(tenant);
    if (flight) return flight;
    const at = this.#now();
    flight = this.#fetch(tenant).then(
      (list) => {
        this.#backoffMs = 0;
        this.#retryAt = 0;
        const entry: Entry = { list, byKey: new Map(list.devices.map((d) => [hex(d.publicKey), d.id])), at };
        const current = this.#cache.get(tenant);
        if (current && current.at > at) return current; // a fetch that started later answered first
        this.#cache.delete(tenant); // re-inserted last: the map's order is the eviction order
        this.#cache.set(tenant, entry);
        if (this.#cache.size > this.#maxTenants) this.#cache.delete(this.#cache.keys().next().value!);
        return entry;
      },
      (err: unknown) => {
        if (err instanceof KeystoreUnavailableError) {
          this.#backoffMs = this.#backoffMs === 0 ? this.#backoffInitial : Math.min(this.#backoffMax, this.#backoffMs * 2);
          this.#retryAt = this.#now() + this.#backoffMs;
        } else if (err instanceof KeystorePermissionDeniedError) {
          this.#cache.delete(tenant); // a revoked identity loses the list at its next fetch
        }
        throw err;
      },
    );
    this.#inflight.set(tenant, flight);
    const done = (): void => void this.#inflight.delete(tenant);
    flight.then(done, done);
    return flight;
  }
}

function view(e: Entry): TenantDevices {
  return {
    tenant: e.list.tenant,
    senderRequired: e.list.senderRequired,
    devices: e.list.devices,
    deviceOf: (publicKey) => e.byKey.get(hex(publicKey)),
  };
}

function sameList(a: TenantDeviceList, b: TenantDeviceList): boolean {
  if (a.senderRequired !== b.senderRequired || a.devices.length !== b.devices.length) return false;
  return a.devices.every((d, i) => d.id === b.devices[i]!.id && hex(d.publicKey) === hex(b.devices[i]!.publicKey));
}

function hex(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex');
}

export interface KeystoreSenderPolicyOptions {
  /**
   * Tenants that enrolled a device refuse alg 3 (anonymous) envelopes, as
   * StaticSenderPolicy's option of the same name. Default true.
   */
  requireForRegisteredTenants?: boolean;
}

/**
 * field-crypto's SenderPolicy over the keystore's device registry. The policy
 * is synchronous (the opener asks it mid-message), so it answers from the
 * registry's cache; the opener loads that first:
 *
 *   const senders = new KeystoreSenderPolicy(registry);
 *   const cipher = new FieldCipher({ keys, hpke: { senders } });
 *   await senders.prepare(tenant);                    // before each message of the tenant
 *   try { await cipher.openMessage(...) }
 *   catch (e) { if (e instanceof UnknownSenderError && (await senders.retryAfterUnknownSender(tenant))) retry once; else throw }
 *
 * Without a prepared list (never prepared, or older than TTL + grace) it
 * fails closed: no device is known, and every alg 3/4 envelope of the tenant
 * is refused (requiresSender true) unless `requireForRegisteredTenants` is false.
 */
export class KeystoreSenderPolicy implements SenderPolicy {
  readonly registry: KeystoreDeviceRegistry;
  readonly #require: boolean;

  constructor(registry: KeystoreDeviceRegistry, opts: KeystoreSenderPolicyOptions = {}) {
    this.registry = registry;
    this.#require = opts.requireForRegisteredTenants ?? true;
  }

  /**
   * Loads the tenant's list unless the cached one is within its TTL: await it
   * before opening a message of the tenant. Throws KeystoreUnavailableError
   * (past TTL + grace) or KeystorePermissionDeniedError: treat as the key
   * cache's errors (retry later / refuse).
   */
  async prepare(tenant: string): Promise<void> {
    await this.registry.devices(tenant);
  }

  deviceOf(tenant: string, publicKey: Uint8Array): string | undefined {
    return this.registry.cached(tenant)?.deviceOf(publicKey);
  }

  requiresSender(tenant: string): boolean {
    if (!this.#require) return false;
    const d = this.registry.cached(tenant);
    return d === undefined ? true : d.senderRequired;
  }

  /** After an UnknownSenderError: true when the list was refetched and changed, so opening once more may succeed. */
  retryAfterUnknownSender(tenant: string): Promise<boolean> {
    return this.registry.refreshAfterUnknownSender(tenant);
  }
}
