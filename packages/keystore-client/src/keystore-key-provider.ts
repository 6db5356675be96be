// field-crypto's KeyProvider over the keystore's mTLS gRPC API, with the cache
// of caching-key-provider.ts in front.
import type { ChannelCredentials, ChannelOptions } from '@grpc/grpc-js';
import { channelCredentials, spiffeId, type TlsFiles } from '@fle/pki';
import { CachingKeyProvider, type KeyCacheOptions } from './caching-key-provider.js';
import { GrpcKeyFetcher } from './grpc-fetcher.js';

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

export interface KeystoreKeyProviderOptions extends KeystoreConnectionOptions, KeyCacheOptions {}

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
  constructor(opts: KeystoreKeyProviderOptions) {
    const address = keystoreAddress(opts.address);
    super(
      new GrpcKeyFetcher({
        address,
        credentials: keystoreCredentials(opts),
        ...(opts.rpcTimeoutMs === undefined ? {} : { rpcTimeoutMs: opts.rpcTimeoutMs }),
        ...(opts.channelOptions === undefined ? {} : { channelOptions: opts.channelOptions }),
      }),
      opts,
    );
    this.address = address;
  }
}
