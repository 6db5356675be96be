// field-crypto's KeyProvider over the keystore's mTLS gRPC API, with the cache
// of caching-key-provider.ts in front, counting the primaries it hands out to
// seal with and reporting those counts to the keystore (seal-counts.ts).
import type { ChannelCredentials, ChannelOptions } from '@grpc/grpc-js';
import type { KeyRingRef, KeyVersionMaterial } from '@fle/field-crypto';
import { channelCredentials, spiffeId, type TlsFiles } from '@fle/pki';
import { CachingKeyProvider, type KeyCacheOptions } from './caching-key-provider.js';
import { GrpcKeyFetcher } from './grpc-fetcher.js';
import { SealCounter, SealReporter, type SealReportStats } from './seal-counts.js';

export const KEYSTORE_ADDR_ENV = 'FLE_KEYSTORE_ADDR';
export const DEFAULT_KEYSTORE_ADDR = '127.0.0.1:7443';

export interface KeystoreConnectionOptions {
  /** host:port; default env FLE_KEYSTORE_ADDR, else 127.0.0.1:7443. */
  address?: string;
  /** This service's certificate files (mTLS); used unless `credentials` is given. */
  tls?: TlsFiles;
  /** Ready-made channel credentials (instead of `tls`). */
  credentials?: ChannelCredentials;
  /**
   * The SPIFFE ID the keystore's certificate must carry; default
   * `spiffe://fle.local/keystore`; `false` checks only the CA and host name.
   */
  expectedServerIdentity?: string | false;
  /** Deadline of one RPC. Default 2000 ms. */
  rpcTimeoutMs?: number;
  channelOptions?: ChannelOptions;
}

export interface KeystoreKeyProviderOptions extends KeystoreConnectionOptions, KeyCacheOptions {
  /**
   * Reports of the seals made under each version (ReportSealCounts), which
   * the keystore's rotation policy checks alg 1 rings' envelope budget
   * against. Default every 60 000 ms; `false` turns them off.
   */
  sealReports?: { intervalMs?: number; onError?: (err: Error, ring: { tenant: string; ring: string }) => void } | false;
}

export function keystoreAddress(address: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return address ?? env[KEYSTORE_ADDR_ENV] ?? DEFAULT_KEYSTORE_ADDR;
}

export function keystoreCredentials(opts: KeystoreConnectionOptions): ChannelCredentials {
  if (opts.credentials) return opts.credentials;
  if (!opts.tls) throw new TypeError('keystore connection needs `tls` (ca, cert, key files) or `credentials`');
  const expected = opts.expectedServerIdentity === undefined ? spiffeId('keystore') : opts.expectedServerIdentity;
  return channelCredentials(opts.tls, expected === false ? {} : { expectedServerIdentity: expected });
}

/**
 * const keys = new KeystoreKeyProvider({ tls: pki.files('processor'), ttlMs: 60_000 });
 * const cipher = new FieldCipher({ keys, ... });
 */
export class KeystoreKeyProvider extends CachingKeyProvider {
  readonly address: string;
  /** Seals counted per version (every primary handed out). */
  readonly seals = new SealCounter();
  readonly #reporter: SealReporter | undefined;

  constructor(opts: KeystoreKeyProviderOptions) {
    const address = keystoreAddress(opts.address);
    const credentials = keystoreCredentials(opts);
    super(
      new GrpcKeyFetcher({
        address,
        credentials,
        ...(opts.rpcTimeoutMs === undefined ? {} : { rpcTimeoutMs: opts.rpcTimeoutMs }),
        ...(opts.channelOptions === undefined ? {} : { channelOptions: opts.channelOptions }),
      }),
      opts,
    );
    this.address = address;
    if (opts.sealReports !== false) {
      const r = opts.sealReports ?? {};
      this.#reporter = new SealReporter(this.seals, {
        address,
        credentials,
        ...(opts.channelOptions === undefined ? {} : { channelOptions: opts.channelOptions }),
        ...(r.intervalMs === undefined ? {} : { intervalMs: r.intervalMs }),
        ...(r.onError === undefined ? {} : { onError: r.onError }),
      });
      this.#reporter.start();
    }
  }

  override cachedPrimaryKey(ref: KeyRingRef): KeyVersionMaterial | undefined {
    const m = super.cachedPrimaryKey(ref);
    if (m !== undefined) this.seals.count(ref, m);
    return m;
  }

  override async primaryKey(ref: KeyRingRef): Promise<KeyVersionMaterial> {
    // A hit is counted by cachedPrimaryKey; only a fetched primary is counted here.
    const hit = this.cachedPrimaryKey(ref);
    if (hit !== undefined) return hit;
    const m = await super.primaryKey(ref);
    this.seals.count(ref, m);
    return m;
  }

  /** Reports the seals counted so far now (before a graceful shutdown); a no-op with reports off. */
  async flushSealCounts(): Promise<void> {
    await this.#reporter?.flush();
  }

  sealReportStats(): SealReportStats | undefined {
    return this.#reporter?.stats();
  }

  override close(): void {
    this.#reporter?.close();
    super.close();
  }
}
