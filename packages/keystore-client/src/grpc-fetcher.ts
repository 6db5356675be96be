// Fetches key versions from the keystore over mTLS gRPC (fle.keystore.v1.KeystoreService).
import { Metadata, status, type ChannelCredentials, type ChannelOptions, type ServiceError } from '@grpc/grpc-js';
import { SecretKey, type KeyRingRef } from '@fle/field-crypto';
import {
  KeyAlg,
  KeyKind,
  KeyVersionState,
  KeystoreServiceClient,
  type KeyMaterial,
} from '@fle/schema/gen/fle/keystore/v1/keystore.js';
import { FetchFailure, type FetchedKey, type FetchedState, type FetchFailureKind, type KeyFetcher } from './fetcher.js';

export interface GrpcKeyFetcherOptions {
  /** host:port of the keystore. */
  address: string;
  credentials: ChannelCredentials;
  /** Deadline of one fetch. Default 2000 ms. */
  rpcTimeoutMs?: number;
  /** Extra grpc-js channel options (merged over the defaults below). */
  channelOptions?: ChannelOptions;
}

/**
 * Reconnect quickly after an outage: grpc-js' default backoff (1 s growing to
 * 120 s) would keep a client away long after the keystore is back.
 */
export const DEFAULT_CHANNEL_OPTIONS: ChannelOptions = {
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 2000,
  'grpc.keepalive_time_ms': 30_000,
  'grpc.keepalive_timeout_ms': 5_000,
};

const TRANSIENT = new Set<number>([
  status.UNAVAILABLE,
  status.DEADLINE_EXCEEDED,
  status.RESOURCE_EXHAUSTED,
  status.ABORTED,
  status.INTERNAL,
  status.UNKNOWN,
  status.CANCELLED,
]);

export function classifyStatus(code: number): FetchFailureKind {
  if (TRANSIENT.has(code)) return 'unavailable';
  if (code === status.PERMISSION_DENIED || code === status.UNAUTHENTICATED) return 'denied';
  if (code === status.NOT_FOUND || code === status.FAILED_PRECONDITION) return 'not-found';
  return 'failed';
}

export class GrpcKeyFetcher implements KeyFetcher {
  readonly #client: KeystoreServiceClient;
  readonly #timeoutMs: number;

  constructor(opts: GrpcKeyFetcherOptions) {
    this.#client = new KeystoreServiceClient(opts.address, opts.credentials, { ...DEFAULT_CHANNEL_OPTIONS, ...opts.channelOptions });
    this.#timeoutMs = opts.rpcTimeoutMs ?? 2000;
  }

  fetchPrimary(ref: KeyRingRef): Promise<FetchedKey> {
    return new Promise((resolve, reject) => {
      this.#client.getPrimaryKey({ tenant: ref.tenant, ring: ref.ring }, new Metadata(), { deadline: Date.now() + this.#timeoutMs }, (err, res) => {
        // Every ring has a primary (keystore invariant): NOT_FOUND here means no such ring.
        if (err) reject(failure(err, true));
        else settle(() => toFetched(res.key, ref, undefined), resolve, reject);
      });
    });
  }

  fetchVersion(ref: KeyRingRef, version: number): Promise<FetchedKey> {
    return new Promise((resolve, reject) => {
      this.#client.getKeyVersion(
        { tenant: ref.tenant, ring: ref.ring, version },
        new Metadata(),
        { deadline: Date.now() + this.#timeoutMs },
        (err, res) => {
          if (err) reject(failure(err, unknownRingDetails(err)));
          else settle(() => toFetched(res.key, ref, version), resolve, reject);
        },
      );
    });
  }

  close(): void {
    this.#client.close();
  }
}

function settle<T>(fn: () => T, resolve: (v: T) => void, reject: (e: unknown) => void): void {
  try {
    resolve(fn());
  } catch (err) {
    reject(err);
  }
}

function failure(err: ServiceError, unknownRing = false): FetchFailure {
  // `details` is the keystore's message (names, versions, never key bytes).
  return new FetchFailure(classifyStatus(err.code), `${status[err.code] ?? err.code}: ${err.details}`, { cause: err, unknownRing });
}

/**
 * The keystore answers NOT_FOUND both for a ring that does not exist ("key
 * ring <tenant>/<ring> does not exist", services/keystore keystore.ts) and for
 * a version a ring lacks ("... has no version N"); only the first lets the
 * cache answer every version of the ring without asking (an unknown tenant).
 */
export function unknownRingDetails(err: Pick<ServiceError, 'code' | 'details'>): boolean {
  return err.code === status.NOT_FOUND && / does not exist$/.test(err.details);
}

const STATES: Partial<Record<KeyVersionState, FetchedState>> = {
  [KeyVersionState.KEY_VERSION_STATE_PENDING]: 'pending',
  [KeyVersionState.KEY_VERSION_STATE_PRIMARY]: 'primary',
  [KeyVersionState.KEY_VERSION_STATE_DECRYPT_ONLY]: 'decrypt-only',
};

/** Checks a response before its key is cached: the key must be what was asked for. */
function toFetched(m: KeyMaterial | undefined, ref: KeyRingRef, version: number | undefined): FetchedKey {
  const bad = (what: string): never => {
    throw new FetchFailure('failed', `keystore response for ${ref.tenant}/${ref.ring}: ${what}`);
  };
  if (!m?.info) return bad('no key');
  const info = m.info;
  if (info.tenant !== ref.tenant || info.ring !== ref.ring) bad('names another ring');
  if (version !== undefined && info.version !== version) bad('names another version');
  if (!Number.isInteger(info.version) || info.version < 1 || info.version > 0xffff_ffff) bad('invalid version');
  const state = STATES[info.state] ?? bad('version is not usable');
  if (version === undefined && state !== 'primary') bad('primary request answered with a non-primary version');
  if (info.kind === KeyKind.KEY_KIND_X25519) {
    // An X25519 ring (HPKE, envelope alg 3/4): the material is its private key, alg 3.
    if (info.alg !== KeyAlg.KEY_ALG_HPKE_X25519_CHACHA20_POLY1305) bad('unknown alg');
    if (m.x25519PrivateKey.length !== 32) bad('private key is not 32 bytes');
    const key = new SecretKey(m.x25519PrivateKey);
    m.x25519PrivateKey.fill(0);
    return { material: { version: info.version, alg: 3, key }, state };
  }
  if (info.kind !== KeyKind.KEY_KIND_SYMMETRIC) bad('unknown key kind');
  const alg = info.alg === KeyAlg.KEY_ALG_CHACHA20_POLY1305 ? 1 : info.alg === KeyAlg.KEY_ALG_XCHACHA20_POLY1305 ? 2 : bad('unknown alg');
  if (m.symmetricKey.length !== 32) bad('key is not 32 bytes');
  const key = new SecretKey(m.symmetricKey);
  m.symmetricKey.fill(0);
  return { material: { version: info.version, alg, key }, state };
}
